package percpuref_test

// Benchmarks of percpuref.Ref for the figures of the README's Results, one
// file per concern: Get+Put and TryGetLive+Put in per-CPU mode (this file),
// central counting (bench_atomicmode_test.go), whole lives and memory
// (bench_lifecycle_test.go), layout (bench_layout_test.go) and Kill under
// load (bench_killload_test.go). Every group names its implementations with
// an impl= key, the baseline first (atomic, or in BenchmarkFalseSharing
// distant), so that, from the repository root,
//
//	go test -run='^$' -bench=. -count=6 ./percpuref/ > new.txt
//	benchstat -col /impl new.txt
//
// prints each implementation side by side with the baseline as the base;
// -col '/impl@(padded dense)' and the like pick and order the columns.
// Build with -tags purego to measure the generic fast path; the output's
// "fastpath: ..." line, printed before the first of these benchmarks, says
// which one ran. The root package's bench_test.go measures the
// per-architecture primitives under the same convention.

import (
	"testing"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/percpuref"
)

// newCAS returns the kref pattern on one shared word, holding one
// reference: a get that fails on zero (a compare-and-swap loop) and a put
// that reports the last reference.
func newCAS() *baseline.PaddedInt64 {
	c := new(baseline.PaddedInt64)
	c.Store(1)
	return c
}

// Each loop below is written out per implementation, with no closure or
// interface call per operation, so that what is timed is the pair itself.

func casGetPut(b *testing.B, parallel bool) {
	c := newCAS()
	if !parallel {
		ok := true
		for i := 0; i < b.N; i++ {
			if c.TryGet() {
				ok = c.Put()
			}
		}
		benchkit.SinkBool = ok
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ok := true
		for pb.Next() {
			if c.TryGet() {
				ok = c.Put()
			}
		}
		benchkit.SinkBool = ok
	})
}

// refTryLivePut measures TryGetLive+Put on r.
func refTryLivePut(b *testing.B, r *percpuref.Ref, parallel bool) {
	if !parallel {
		ok := false
		for i := 0; i < b.N; i++ {
			if r.TryGetLive() {
				ok = r.Put()
			}
		}
		benchkit.SinkBool = ok
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ok := false
		for pb.Next() {
			if r.TryGetLive() {
				ok = r.Put()
			}
		}
		benchkit.SinkBool = ok
	})
}

// refUnlessZeroPut measures GetUnlessZero+Put on r.
func refUnlessZeroPut(b *testing.B, r *percpuref.Ref, parallel bool) {
	if !parallel {
		ok := false
		for i := 0; i < b.N; i++ {
			if r.GetUnlessZero() {
				ok = r.Put()
			}
		}
		benchkit.SinkBool = ok
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ok := false
		for pb.Next() {
			if r.GetUnlessZero() {
				ok = r.Put()
			}
		}
		benchkit.SinkBool = ok
	})
}

// BenchmarkGetPut is the Get+Put pair in per-CPU mode (an Eager Ref, which
// has its cells from the start; BenchmarkLazy measures a default Ref, which
// counts centrally until it is contended) against one shared atomic word
// (Add/Add) and the CAS increment-unless-zero counter.
// cmd/compare measures xsync.Counter (Inc/Dec) beside them.
func BenchmarkGetPut(b *testing.B) {
	benchkit.Header()
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.Eager())
				benchkit.RefGetPut(b, r, parallel)
				r.Kill()
			}},
			{Name: "cas", Run: casGetPut},
		})
	})
}

// BenchmarkTryGetLive is TryGetLive+Put in per-CPU mode (Eager); its analogue on one
// word is the CAS counter.
func BenchmarkTryGetLive(b *testing.B) {
	benchkit.Header()
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.Eager())
				refTryLivePut(b, r, parallel)
				r.Kill()
			}},
			{Name: "cas", Run: casGetPut},
		})
	})
}
