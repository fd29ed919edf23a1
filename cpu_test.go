package percpu

import (
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
	"github.com/stretchr/testify/assert"
)

func TestCacheLineSize(t *testing.T) {
	n := CacheLineSize()
	assert.GreaterOrEqual(t, n, 32)
	assert.LessOrEqual(t, n, 1024)
	assert.Zero(t, n&(n-1), "%d is not a power of two", n)
	t.Logf("CacheLineSize() = %d, cpuid.CPU.CacheLine = %d", n, cpuid.CPU.CacheLine)
}

func TestCacheLineSizeSanity(t *testing.T) {
	for in, want := range map[int]int{
		-64: 128, 0: 128, 16: 128, 32: 32, 48: 128, 64: 64, 96: 128,
		128: 128, 256: 256, 1024: 1024, 2048: 128, 1 << 30: 128,
	} {
		assert.Equal(t, want, saneCacheLine(in), "saneCacheLine(%d)", in)
	}
}

// fakeCPUID answers CPUID leaves from a table, and records which were asked.
type fakeCPUID struct {
	leaves map[uint32][4]uint32
	asked  []uint32
}

func (f *fakeCPUID) query(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) {
	f.asked = append(f.asked, leaf)
	r := f.leaves[leaf]
	return r[0], r[1], r[2], r[3]
}

func TestRDPIDFromCPUID(t *testing.T) {
	const bit = 1 << 22
	for _, tc := range []struct {
		name   string
		leaves map[uint32][4]uint32
		want   bool
		asked  []uint32
	}{
		{"no CPUID", nil, false, []uint32{0}},
		{"max leaf 6", map[uint32][4]uint32{0: {6}, 7: {0, 0, bit}}, false, []uint32{0}},
		{"bit clear", map[uint32][4]uint32{0: {7}, 7: {0, ^uint32(0), ^uint32(bit), ^uint32(0)}}, false, []uint32{0, 7}},
		{"bit set", map[uint32][4]uint32{0: {0x1b}, 7: {0, 0, bit}}, true, []uint32{0, 7}},
		{"bit in EBX", map[uint32][4]uint32{0: {7}, 7: {0, bit, 0, bit}}, false, []uint32{0, 7}},
	} {
		f := &fakeCPUID{leaves: tc.leaves}
		assert.Equal(t, tc.want, rdpidFromCPUID(f.query), tc.name)
		assert.Equal(t, tc.asked, f.asked, tc.name)
	}
}

// cpuFlags returns the flags of the first processor in /proc/cpuinfo, or
// skips the test if there is none.
func cpuFlags(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skipf("no /proc/cpuinfo: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(name) == "flags" {
			return strings.Fields(value)
		}
	}
	t.Skip("/proc/cpuinfo has no flags line")
	return nil
}

func TestHasRDPIDMatchesCPUInfo(t *testing.T) {
	if !cpuAsm {
		assert.False(t, HasRDPID(), "the generic build (%s, purego or not amd64) has no CPUID", runtime.GOARCH)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skipf("no /proc/cpuinfo to compare with on %s", runtime.GOOS)
	}
	want := slices.Contains(cpuFlags(t), "rdpid")
	assert.Equal(t, want, HasRDPID(), `HasRDPID() against the "rdpid" flag of /proc/cpuinfo`)
}

func TestCPUIDVendor(t *testing.T) {
	if !cpuAsm {
		t.Skipf("no CPUID in the generic build (%s)", runtime.GOARCH)
	}
	_, b, c, d := cpuidex(0, 0)
	var v []byte
	for _, r := range []uint32{b, d, c} {
		v = append(v, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	if s := cpuid.CPU.VendorString; s != "" {
		assert.Equal(t, s, string(v))
	}
}
