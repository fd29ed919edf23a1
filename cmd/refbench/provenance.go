package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"

	"github.com/percpuref/percpu"
)

// Provenance says where and how a run was made, so that its figures can be
// attributed, reproduced and compared.
type Provenance struct {
	Version Version `json:"version"` // what was measured: module, commit
	// GoVersion, GOOS and GOARCH are the toolchain's and the target's.
	GoVersion string `json:"go_version"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	// Build lists the build settings that change what is measured: -tags,
	// -race, the architecture level (GOAMD64, GOARM64), CGO_ENABLED.
	Build  []string `json:"build"`
	Kernel string   `json:"kernel,omitempty"` // kernel release, as uname -r says
	CPU    string   `json:"cpu"`              // brand name, from CPUID
	// CPUFeatures lists, of the features this library's code or its
	// baseline depend on, those the CPU has (see relevantFeatures).
	CPUFeatures []string `json:"cpu_features"`
	// ThreadsPerCore is CPUID's; a hypervisor may hide that two vCPUs
	// share a physical core.
	ThreadsPerCore int      `json:"threads_per_core"`
	VM             bool     `json:"vm"`          // CPUID says a hypervisor runs the machine
	CacheLine      int      `json:"cache_line"`  // percpu.CacheLineSize(), the unit the slabs are aligned to
	Caches         []string `json:"caches"`      // as the OS reports them (sysfs), or CPUID's where it does not
	CachesFrom     string   `json:"caches_from"` // "sysfs" or "cpuid"
	NumCPU         int      `json:"num_cpu"`     // logical CPUs usable by the process
	GOMAXPROCS     int      `json:"gomaxprocs"`
	FastPath       string   `json:"fast_path"`                  // percpu.FastPath(): the fast path under test
	FastPathWhy    string   `json:"fast_path_reason,omitempty"` // percpu.FastPathReason(): why not the assembly path
	FastPathEnv    string   `json:"fast_path_env,omitempty"`    // PERCPU_FASTPATH, if set
	Date           string   `json:"date"`                       // start of the run, RFC 3339, UTC
	Args           []string `json:"args"`                       // the command-line flags
	// Host says how busy the machine looked during the run; it is known
	// only at the end.
	Host *Host `json:"host,omitempty"`
}

func collectProvenance(args []string, now time.Time) Provenance {
	c := cpuid.CPU
	caches, from := osCaches()
	if len(caches) == 0 {
		caches, from = cpuidCaches(), "cpuid"
	}
	return Provenance{
		Version:        buildVersion(),
		GoVersion:      runtime.Version(),
		GOOS:           runtime.GOOS,
		GOARCH:         runtime.GOARCH,
		Build:          buildSettings(),
		Kernel:         kernelRelease(),
		CPU:            strings.TrimSpace(c.BrandName),
		CPUFeatures:    relevantFeatures(),
		ThreadsPerCore: c.ThreadsPerCore,
		VM:             c.VM(),
		CacheLine:      percpu.CacheLineSize(),
		Caches:         caches,
		CachesFrom:     from,
		NumCPU:         runtime.NumCPU(),
		GOMAXPROCS:     runtime.GOMAXPROCS(0),
		FastPath:       percpu.FastPath(),
		FastPathWhy:    percpu.FastPathReason(),
		FastPathEnv:    os.Getenv("PERCPU_FASTPATH"),
		Date:           now.UTC().Format(time.RFC3339),
		Args:           append([]string{}, args...),
	}
}

// relevantFeatures returns, of the CPU features that matter to what
// refbench measures, those the CPU has: on amd64 RDTSCP (which the
// library may read the current CPU's number with) and the hypervisor bit;
// on arm64 the LSE atomics, without which atomic.Int64 (the baseline) and
// the shared path use load-exclusive/store-exclusive loops.
func relevantFeatures() []string {
	var fs []cpuid.FeatureID
	switch runtime.GOARCH {
	case "amd64", "386":
		fs = []cpuid.FeatureID{cpuid.RDTSCP, cpuid.HYPERVISOR}
	case "arm64":
		fs = []cpuid.FeatureID{cpuid.ATOMICS}
	}
	out := []string{}
	for _, f := range fs {
		if cpuid.CPU.Supports(f) {
			out = append(out, strings.ToLower(f.String()))
		}
	}
	return out
}

// cpuidCaches describes the caches as CPUID does, for systems that do
// not report them; a hypervisor may report sizes that are not the
// machine's.
func cpuidCaches() []string {
	c := cpuid.CPU.Cache
	var out []string
	for _, x := range []struct {
		name string
		size int
	}{{"L1d", c.L1D}, {"L1i", c.L1I}, {"L2", c.L2}, {"L3", c.L3}} {
		if x.size > 0 {
			out = append(out, x.name+" "+sizeName(int64(x.size)))
		}
	}
	return out
}

// sizeName writes a size in bytes with the largest binary unit that
// divides it.
func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// writeText writes p as comment lines, the header of the table and of
// the CSV.
func (p Provenance) writeText(w io.Writer) {
	fmt.Fprintf(w, "# refbench %s\n", strings.Join(p.Args, " "))
	fmt.Fprintf(w, "# date:       %s\n", p.Date)
	fmt.Fprintf(w, "# version:    %s\n", p.Version)
	build := "default build"
	if len(p.Build) > 0 {
		build = strings.Join(p.Build, " ")
	}
	fmt.Fprintf(w, "# go:         %s %s/%s, %s\n", p.GoVersion, p.GOOS, p.GOARCH, build)
	if p.Kernel != "" {
		fmt.Fprintf(w, "# kernel:     %s\n", p.Kernel)
	}
	fmt.Fprintf(w, "# cpu:        %s (%d logical CPUs, GOMAXPROCS=%d)\n", p.CPU, p.NumCPU, p.GOMAXPROCS)
	vm := ""
	if p.VM {
		vm = ", virtual machine"
	}
	features := "none of rdtscp, hypervisor (amd64), atomics (arm64)"
	if len(p.CPUFeatures) > 0 {
		features = strings.Join(p.CPUFeatures, " ")
	}
	fmt.Fprintf(w, "# cpu info:   %d thread(s) per core (CPUID)%s; features that matter here: %s; cache line %d B\n",
		p.ThreadsPerCore, vm, features, p.CacheLine)
	fmt.Fprintf(w, "# caches:     %s (%s)\n", strings.Join(p.Caches, ", "), p.CachesFrom)
	// The reason names PERCPU_FASTPATH when the setting mattered.
	note := "PERCPU_FASTPATH=fetchadd or -tags purego measure the others"
	switch {
	case p.FastPathWhy != "":
		note = "why: " + p.FastPathWhy
	case p.FastPathEnv != "":
		note = "PERCPU_FASTPATH=" + p.FastPathEnv
	}
	fmt.Fprintf(w, "# fast path:  %s (%s)\n", p.FastPath, note)
	if p.Host != nil {
		fmt.Fprintf(w, "# host:       %s\n", p.Host)
	}
}

// writeHeader writes the provenance of r, and its spread, as comment
// lines: the head of the table, the CSV and the bench format.
func writeHeader(w io.Writer, r *Report) {
	r.Provenance.writeText(w)
	if r.Spread != nil {
		fmt.Fprintf(w, "# spread:     %s\n", r.Spread)
	}
}
