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
// attributed and compared.
type Provenance struct {
	GoVersion   string   `json:"go_version"`
	GOOS        string   `json:"goos"`
	GOARCH      string   `json:"goarch"`
	CPU         string   `json:"cpu"`          // brand name, from CPUID
	CPUFeatures []string `json:"cpu_features"` // as cpuid/v2 names them
	CPUTopology string   `json:"cpu_topology"` // cores, threads per core, caches and VM, as CPUID reports them
	NumCPU      int      `json:"num_cpu"`      // logical CPUs usable by the process
	GOMAXPROCS  int      `json:"gomaxprocs"`
	FastPath    string   `json:"fast_path"`                  // percpu.FastPath(): the fast path under test
	FastPathWhy string   `json:"fast_path_reason,omitempty"` // percpu.FastPathReason(): why not the assembly path
	FastPathEnv string   `json:"fast_path_env,omitempty"`    // PERCPU_FASTPATH, if set
	Date        string   `json:"date"`                       // start of the run, RFC 3339, UTC
	Args        []string `json:"args"`                       // the command-line flags
}

func collectProvenance(args []string, now time.Time) Provenance {
	return Provenance{
		GoVersion:   runtime.Version(),
		GOOS:        runtime.GOOS,
		GOARCH:      runtime.GOARCH,
		CPU:         cpuid.CPU.BrandName,
		CPUFeatures: cpuid.CPU.FeatureSet(),
		CPUTopology: topology(),
		NumCPU:      runtime.NumCPU(),
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		FastPath:    percpu.FastPath(),
		FastPathWhy: percpu.FastPathReason(),
		FastPathEnv: os.Getenv("PERCPU_FASTPATH"),
		Date:        now.UTC().Format(time.RFC3339),
		Args:        append([]string{}, args...),
	}
}

// writeText writes p as comment lines, the header of the table.
func (p Provenance) writeText(w io.Writer) {
	fmt.Fprintf(w, "# refbench %s\n", strings.Join(p.Args, " "))
	fmt.Fprintf(w, "# date:       %s\n", p.Date)
	fmt.Fprintf(w, "# go:         %s %s/%s\n", p.GoVersion, p.GOOS, p.GOARCH)
	fmt.Fprintf(w, "# cpu:        %s (%d logical CPUs, GOMAXPROCS=%d)\n", p.CPU, p.NumCPU, p.GOMAXPROCS)
	fmt.Fprintf(w, "# topology:   %s\n", p.CPUTopology)
	fmt.Fprintf(w, "# features:   %s\n", strings.Join(p.CPUFeatures, " "))
	// The reason names PERCPU_FASTPATH when the setting mattered.
	note := "PERCPU_FASTPATH=fetchadd or -tags purego measure the others"
	switch {
	case p.FastPathWhy != "":
		note = "why: " + p.FastPathWhy
	case p.FastPathEnv != "":
		note = "PERCPU_FASTPATH=" + p.FastPathEnv
	}
	fmt.Fprintf(w, "# fast path:  %s (%s)\n", p.FastPath, note)
}

// topology describes the CPU as CPUID sees it. In a virtual machine the
// host may still place two vCPUs on one physical core, which CPUID cannot
// show; sharing one cache line is then much cheaper than across cores.
func topology() string {
	c := cpuid.CPU
	vm := ""
	if c.VM() {
		vm = ", virtual machine"
	}
	return fmt.Sprintf("%d cores, %d threads per core, L1d %d KiB, L2 %d KiB, L3 %d KiB%s",
		c.PhysicalCores, c.ThreadsPerCore, c.Cache.L1D>>10, c.Cache.L2>>10, c.Cache.L3>>10, vm)
}
