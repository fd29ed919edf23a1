package percpu_test

// BenchmarkHintSource compares the sources of a shard hint that the fast
// paths could use, one sub-benchmark per impl= key:
//
//	go test -run='^$' -bench=HintSource -count=6 . > hint.txt
//	benchstat -col /impl hint.txt
//
// procpin is percpu.Hint (runtime.procPin and procUnpin): the P id, the index
// that the single-writer path must have anyway. rdtscp and rdpid read the
// CPU number that Linux keeps in the low 12 bits of IA32_TSC_AUX, which could
// replace the P id only as the fetchadd path's hint; they are skipped where the
// instruction is missing or the build is generic.

import (
	"testing"

	"github.com/percpuref/percpu"
)

// sinkHint keeps the results of the measured loops alive.
var sinkHint int

func BenchmarkHintSource(b *testing.B) {
	b.Run("impl=procpin", func(b *testing.B) {
		s := 0
		for i := 0; i < b.N; i++ {
			s += percpu.Hint()
		}
		sinkHint = s
	})
	b.Run("impl=rdtscp", func(b *testing.B) {
		if !percpu.HasRDTSCP() {
			b.Skip("RDTSCP unavailable: not amd64, a purego build, or the CPU lacks it")
		}
		s := 0
		for i := 0; i < b.N; i++ {
			s += int(percpu.RdtscpAux() & 0xfff)
		}
		sinkHint = s
	})
	b.Run("impl=rdpid", func(b *testing.B) {
		if !percpu.HasRDPID() {
			b.Skip("RDPID unavailable: not amd64, a purego build, or the CPU lacks it (CPUID.7.0:ECX[22] clear)")
		}
		s := 0
		for i := 0; i < b.N; i++ {
			s += int(percpu.RdpidAux() & 0xfff)
		}
		sinkHint = s
	})
}
