//go:build linux

package percpu

import (
	"runtime"
	"slices"
	"testing"

	"github.com/klauspost/cpuid/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// checkAuxIsTheCPU checks that the low 12 bits of what read returns, which
// Linux sets to the CPU number in IA32_TSC_AUX, name a CPU this process may
// run on (so, with no affinity mask, one below runtime.NumCPU()), and name
// exactly the CPU that the thread is bound to, for each such CPU.
func checkAuxIsTheCPU(t *testing.T, read func() uint32) {
	var allowed unix.CPUSet
	require.NoError(t, unix.SchedGetaffinity(0, &allowed))
	dense := true
	for i := range runtime.NumCPU() {
		dense = dense && allowed.IsSet(i)
	}
	for range 1000 {
		cpu := int(read() & 0xfff)
		require.True(t, allowed.IsSet(cpu), "CPU %d is not in the affinity mask", cpu)
		if dense {
			require.Less(t, cpu, runtime.NumCPU())
		}
	}

	// Bind a locked thread to each allowed CPU in turn. The goroutine ends
	// still locked, so the runtime discards the thread and its mask.
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		for cpu := range 1 << 12 {
			if !allowed.IsSet(cpu) {
				continue
			}
			var one unix.CPUSet
			one.Set(cpu)
			if !assert.NoError(t, unix.SchedSetaffinity(0, &one)) {
				return
			}
			assert.Equal(t, cpu, int(read()&0xfff), "bound to CPU %d", cpu)
		}
	}()
	<-done
}

func TestRdtscpAuxIsTheCPU(t *testing.T) {
	if !cpuAsm {
		t.Skipf("no RDTSCP in the generic build (%s)", runtime.GOARCH)
	}
	if !slices.Contains(cpuFlags(t), "rdtscp") {
		t.Skip(`/proc/cpuinfo has no "rdtscp" flag`)
	}
	require.True(t, cpuid.CPU.Has(cpuid.RDTSCP), "cpuid/v2 disagrees with /proc/cpuinfo about RDTSCP")
	checkAuxIsTheCPU(t, rdtscpAux)
}

func TestRDPIDAuxIsTheCPU(t *testing.T) {
	if !HasRDPID() {
		t.Skip("no RDPID: not amd64, a purego build, or the CPU lacks it")
	}
	checkAuxIsTheCPU(t, rdpidAux)
}
