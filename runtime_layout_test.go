package percpu

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRuntimeLayoutTable checks runtimeLayout against the toolchain that
// runs the test: it builds the runtime afresh (go build -a -work) for
// linux/amd64 and linux/arm64, reads the offsets from the go_asm.h that the
// compiler wrote for it, and fails, naming the line to add, when the table
// lacks this release or disagrees with it. It also checks the two offsets
// the assembly spells as constants (g.m at 48, p.id at 0). It takes half a
// minute, so it runs where the table is used (the assembly build) and not
// with -short (CI's runs under emulation).
func TestRuntimeLayoutTable(t *testing.T) {
	if !asmPath {
		t.Skipf("the table serves only the assembly build (this is a %s); that build's run checks it", buildReason())
	}
	if testing.Short() {
		t.Skip("rebuilds the runtime twice: not with -short; the full run checks it")
	}
	const goCmd = "go" // with GOTOOLCHAIN as the test's caller set it
	out, err := exec.Command(goCmd, "env", "GOVERSION").Output()
	require.NoError(t, err, "the go command")
	require.Equal(t, runtime.Version(), strings.TrimSpace(string(out)),
		"the go command on PATH is not the toolchain that built this test: run the test with that toolchain's go, or set GOTOOLCHAIN")

	rel := release(runtime.Version())
	require.NotEmpty(t, rel, "a development build (%s) has no release to look up", runtime.Version())
	for _, arch := range []string{"amd64", "arm64"} {
		got := runtimeOffsets(t, goCmd, arch)
		assert.Equal(t, uintptr(48), got["g_m"], "%s: the assembly reads g.m at 48", arch)
		assert.Equal(t, uintptr(0), got["p_id"], "%s: the assembly reads p.id at 0", arch)
		want, ok := runtimeLayout[rel]
		line := fmt.Sprintf("%q: {%d, %d},", rel, got["m_p"], got["p_m"])
		if !assert.True(t, ok, "runtimeLayout (runtime_layout.go) lacks %s: add the line\n\t%s\nand see CONTRIBUTING.md", rel, line) {
			continue
		}
		assert.Equal(t, [2]uintptr{got["m_p"], got["p_m"]}, want,
			"%s/%s: runtimeLayout's %s entry disagrees with the toolchain's go_asm.h: make it\n\t%s", "linux", arch, rel, line)
	}
}

// runtimeOffsets builds the runtime for linux/arch with every package
// rebuilt, keeps the work directory, and returns the fields g_m, p_id, m_p
// and p_m of the runtime's go_asm.h.
func runtimeOffsets(t *testing.T, goCmd, arch string) map[string]uintptr {
	t.Helper()
	cmd := exec.Command(goCmd, "build", "-a", "-work", "runtime")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build -a -work runtime (GOARCH=%s): %s", arch, out)
	m := regexp.MustCompile(`(?m)^WORK=(.+)$`).FindSubmatch(out)
	require.NotNil(t, m, "no WORK= line in: %s", out)
	work := string(m[1])
	t.Cleanup(func() { os.RemoveAll(work) })

	headers, err := filepath.Glob(filepath.Join(work, "*", "go_asm.h"))
	require.NoError(t, err)
	define := regexp.MustCompile(`(?m)^#define (g_m|p_id|m_p|p_m) (\d+)$`)
	for _, h := range headers {
		text, err := os.ReadFile(h)
		require.NoError(t, err)
		if !strings.Contains(string(text), "#define m_p ") {
			continue // another package's header
		}
		got := map[string]uintptr{}
		for _, d := range define.FindAllStringSubmatch(string(text), -1) {
			v, err := strconv.ParseUint(d[2], 10, 64)
			require.NoError(t, err)
			got[d[1]] = uintptr(v)
		}
		require.Len(t, got, 4, "%s: want g_m, p_id, m_p and p_m", h)
		return got
	}
	t.Fatalf("no runtime go_asm.h among %d headers in the work directory %s", len(headers), work)
	return nil
}
