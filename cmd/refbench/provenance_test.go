package main

import (
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestVersionFromGit(t *testing.T) {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git checkout: %v", err)
	}
	v := buildVersion()
	// go test stamps no VCS information: the revision comes from git.
	if want := strings.TrimSpace(string(out)); v.Revision != want || v.From == "" {
		t.Errorf("version = %+v, want revision %s", v, want)
	}
	if !strings.HasPrefix(v.Module, "github.com/percpuref/percpu/cmd ") {
		t.Errorf("module = %q", v.Module)
	}
}

func TestVersionShort(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		want string
	}{
		{Version{Module: "m (devel)", Revision: "1580e671daf335375f629f20d31f9d11e0eb2e99"}, "1580e671daf3"},
		{Version{Module: "m (devel)", Revision: "1580e671daf335375f629f20d31f9d11e0eb2e99", Modified: true}, "1580e671daf3+modified"},
		{Version{Module: "m v1.2.3"}, "v1.2.3"},
		{Version{Module: "m (devel)"}, "unknown"},
	} {
		if got := tc.v.Short(); got != tc.want {
			t.Errorf("%+v.Short() = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestSizeName(t *testing.T) {
	for n, want := range map[int64]string{48 << 10: "48 KiB", 1 << 20: "1 MiB", 32 << 20: "32 MiB", 1536 << 10: "1536 KiB", 100: "100 B"} {
		if got := sizeName(n); got != want {
			t.Errorf("sizeName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProvenanceHeader(t *testing.T) {
	p := collectProvenance([]string{"-count", "3"}, time.Now())
	m := startHost()
	time.Sleep(100 * time.Millisecond) // a few clock ticks of CPU time
	p.Host = m.finish()
	var buf bytes.Buffer
	p.writeText(&buf)
	out := buf.String()
	for _, want := range []string{"# version:", "commit", "# go:", "# cpu:", "GOMAXPROCS=", "# caches:", "# fast path:", "# host:", "arithmetic probe"} {
		if !strings.Contains(out, want) {
			t.Errorf("header has no %q:\n%s", want, out)
		}
	}
	if runtime.GOOS == "linux" {
		if !strings.Contains(out, "# kernel:     Linux ") || p.Host.OthersCPU == nil {
			t.Errorf("on Linux the kernel and the CPU times are read:\n%s", out)
		}
		// Some kernels (this project's CI machines among them) publish no
		// cache directory in sysfs; CPUID's caches are then the source.
		want := "cpuid"
		if _, err := os.Stat("/sys/devices/system/cpu/cpu0/cache"); err == nil {
			want = "sysfs"
		}
		if p.CachesFrom != want {
			t.Errorf("caches from %q, want %q:\n%s", p.CachesFrom, want, out)
		}
	}
	// Only the few features that matter, not every one CPUID knows.
	if len(p.CPUFeatures) > 2 {
		t.Errorf("features = %v", p.CPUFeatures)
	}
	if !(p.Host.ProbeBefore > 0 && p.Host.ProbeAfter > 0) {
		t.Errorf("probe = %+v", p.Host)
	}
}
