package percpuref_test

// Get+Put on a Ref that counts on its central count rather than on per-CPU
// cells, each beside the atomic.Int64 pair: a live Ref made with InitAtomic
// (atomic mode from the start), a default (Lazy) Ref before it takes its
// cells, and a Ref after Kill (BenchmarkKilled), the other central case.
//
//	go test -run='^$' -bench='InitAtomic|Lazy|Killed' -count=6 ./percpuref/ > central.txt
//	benchstat -col /impl central.txt

import (
	"testing"
	"unsafe"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/internal/callfloor"
	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/percpuref"
)

// BenchmarkInitAtomic is Get+Put on a live Ref made with InitAtomic: never
// killed, in atomic mode throughout, so that every Get and Put is one
// atomic add on the central count, as the baseline's Add/Add is.
func BenchmarkInitAtomic(b *testing.B) {
	benchkit.Header()
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.InitAtomic())
				if r.IsPercpu() {
					b.Fatal("an InitAtomic Ref is in per-CPU mode")
				}
				benchkit.RefGetPut(b, r, parallel)
				r.Kill()
				if !r.IsZero() {
					b.Error("Kill did not release the InitAtomic Ref")
				}
			}},
		})
	})
}

// BenchmarkLazy is Get+Put on a Ref made with Lazy, the default, which counts on its
// central count with a compare-and-swap until one fails, and then takes
// its cells (spreads) and counts per-CPU from there on. Serially nothing
// makes a swap fail: the whole run is the compare-and-swap path before the
// spread, and the benchmark fails if the Ref spread. In parallel the
// goroutines' swaps collide at once and the Ref spreads within the first
// few operations, so parallel measures a spread Ref: per-CPU mode, as in
// BenchmarkGetPut. The spread metric says which (1: the Ref had spread by
// the end of the run).
func BenchmarkLazy(b *testing.B) {
	benchkit.Header()
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.Lazy())
				if hasCells(r) {
					b.Fatal("a new Lazy Ref has cells")
				}
				benchkit.RefGetPut(b, r, parallel)
				spread := hasCells(r)
				if spread && !parallel {
					b.Fatal("the Lazy Ref spread with one goroutine")
				}
				flag := 0.0
				if spread {
					flag = 1
				}
				b.ReportMetric(flag, "spread")
				r.Kill()
			}},
		})
	})
}

// hasCells reports whether r has per-CPU cells: a Lazy Ref takes them when
// it spreads. A Ref's first field is its cells.Cells, whose first word is
// the cells' base, nil while there are none (the assembly of package
// percpuref reads a Ref at the same offsets).
func hasCells(r *percpuref.Ref) bool {
	return (*cells.Cells)(unsafe.Pointer(r)).LoadBase() != nil
}

// killed returns a Ref in atomic mode after Kill, kept alive by one extra
// reference (count 1), and a function that drops it at the end.
func killed(b *testing.B) (*percpuref.Ref, func()) {
	r := baseline.NewPaddedRef(nil)
	r.Get()
	r.Kill()
	if r.IsPercpu() || r.IsZero() {
		b.Fatal("Ref not in atomic mode with references after Kill")
	}
	return r, func() {
		if !r.Put() {
			b.Error("the last Put did not release")
		}
	}
}

// BenchmarkKilled measures a Ref after Kill, in atomic mode, where every
// operation goes to the one central count: Get+Put against Add/Add, and
// GetUnlessZero+Put against the CAS counter.
func BenchmarkKilled(b *testing.B) {
	benchkit.Header()
	b.Run("getput", func(b *testing.B) {
		benchkit.Modes(b, func(b *testing.B, parallel bool) {
			benchkit.RunImpls(b, parallel, []benchkit.Impl{
				{Name: "atomic", Run: benchkit.AtomicAddAdd},
				{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
					r, done := killed(b)
					benchkit.RefGetPut(b, r, parallel)
					done()
				}},
			})
		})
	})
	b.Run("getunlesszero", func(b *testing.B) {
		benchkit.Modes(b, func(b *testing.B, parallel bool) {
			benchkit.RunImpls(b, parallel, []benchkit.Impl{
				{Name: "atomic", Run: benchkit.AtomicAddAdd},
				{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
					r, done := killed(b)
					refUnlessZeroPut(b, r, parallel)
					done()
				}},
				{Name: "cas", Run: casGetPut},
			})
		})
	})
}

// BenchmarkCallFloor measures the floor under an atomic-mode Get+Put: the
// pair of locked adds of the baseline, inlined (atomic), then behind a Go
// call that is not inlined (gocall) and behind a call into an assembly
// function of no frame that makes only the add (asmcall: the Ref's call,
// without its state check), and the Ref itself (percpuref, InitAtomic, as
// in BenchmarkInitAtomic). A call costs its locked add the return address
// it stores (and, into assembly, the argument): the add waits for them
// to drain. asmcall's ratio to atomic is the best an atomic-mode Get+Put
// behind an assembly call can reach on the machine; the percpuref row's
// distance from asmcall is what its state check costs.
func BenchmarkCallFloor(b *testing.B) {
	benchkit.Header()
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "gocall", Run: goCallPair},
			{Name: "asmcall", Run: asmCallPair},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.InitAtomic())
				benchkit.RefGetPut(b, r, parallel)
				r.Kill()
			}},
		})
	})
}

// goCallPair and asmCallPair are benchkit.AtomicAddAdd's loop with each add
// behind callfloor's calls, written out so that each is a direct call (a
// function value would reach the assembly through a wrapper).
func goCallPair(b *testing.B, parallel bool) {
	c := new(baseline.PaddedInt64)
	c.Store(1)
	if !parallel {
		for i := 0; i < b.N; i++ {
			callfloor.GoAdd(&c.Int64, 1)
			callfloor.GoAdd(&c.Int64, -1)
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			callfloor.GoAdd(&c.Int64, 1)
			callfloor.GoAdd(&c.Int64, -1)
		}
	})
}

func asmCallPair(b *testing.B, parallel bool) {
	c := new(baseline.PaddedInt64)
	c.Store(1)
	if !parallel {
		for i := 0; i < b.N; i++ {
			callfloor.AsmAdd(&c.Int64, 1)
			callfloor.AsmAdd(&c.Int64, -1)
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			callfloor.AsmAdd(&c.Int64, 1)
			callfloor.AsmAdd(&c.Int64, -1)
		}
	})
}
