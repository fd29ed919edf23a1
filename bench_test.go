package percpu_test

// Benchmarks of the root package's per-architecture primitives: the P hint
// and the cell updates (BenchmarkPrimitives), the machine's state
// (BenchmarkMachine), the sources of a shard hint (bench_cpu_test.go) and
// the membarrier that Kill waits for (bench_quiesce_test.go). The Ref's
// benchmarks are in percpuref/. Every group names its implementations with
// an impl= key, the baseline first (atomic), so that
//
//	go test -run='^$' -bench=. -count=6 . > new.txt
//	benchstat -col /impl new.txt
//
// prints each implementation side by side with the baseline as the base;
// -col '/impl@(atomic updatelocal)' and the like pick and order the columns.
// Build with -tags purego to measure the generic fast path; the output's
// "fastpath: ..." line says which one ran.

import (
	"testing"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/alu"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/internal/fastpath"
	"github.com/percpuref/percpu/internal/slots"
)

// BenchmarkPrimitives measures the root package's primitives alone, each
// beside the atomic.Int64 pair they replace: the P hint (Hint), the shared
// cell update (AddLocal, an atomic add on the caller's cell) and the
// single-writer update (UpdateLocal: assembly with no lock on amd64 and
// arm64; procPin and sequentially consistent atomics with -tags purego, whose
// run gives the same names for benchstat to compare across builds). Each
// iteration is a +1 and a -1, as in a Get+Put pair, but Hint, which is
// called twice.
func BenchmarkPrimitives(b *testing.B) {
	benchkit.Header()
	var c cells.Cells // a slot of the arena, as a Ref has by default
	c.Base, c.Last, c.Shift = slots.TakeSlot()
	c.State.Store(cells.Live)
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "hint", Run: func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { benchkit.SinkInt += int64(percpu.Hint() + percpu.Hint()) })
			}},
			{Name: "addlocal", Run: func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { fastpath.AddLocal(&c, 1); benchkit.SinkInt, _ = fastpath.AddLocal(&c, -1) })
			}},
			{Name: "updatelocal", Run: func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { fastpath.UpdateLocal(&c, 1); benchkit.SinkBool = fastpath.UpdateLocal(&c, -1) })
			}},
		})
	})
}

// loop runs body b.N times, serially or spread over RunParallel's
// goroutines. The closure call costs about a nanosecond, the same for every
// implementation that uses it.
func loop(b *testing.B, parallel bool, body func()) {
	if !parallel {
		for i := 0; i < b.N; i++ {
			body()
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body()
		}
	})
}

// BenchmarkMachine tells a quiet machine from a busy one, for reading the
// other results on shared hosts. It measures two loops that owe nothing to
// this project: a pair of locked adds on one word (latency-bound: the lock
// drains the store buffer, so little else can run beside it) and four
// independent chains of arithmetic (throughput-bound). When the host puts
// other work on the same physical core, the second slows down (on the
// project's machine 1.8 ns an iteration when quiet, about 3.1 when not) while
// the first hardly moves. The per-CPU Get+Put is bound by throughput too, so
// its ratio to atomic.Int64 moves with the second loop: compare runs taken in
// the same state.
func BenchmarkMachine(b *testing.B) {
	benchkit.Header()
	b.Run("impl=atomic", func(b *testing.B) { benchkit.AtomicAddAdd(b, false) })
	b.Run("impl=alu", func(b *testing.B) {
		a := alu.Run([4]uint64{1, 2, 3, 4}, b.N)
		benchkit.SinkInt = int64(a[0] + a[1] + a[2] + a[3])
	})
}
