package percpu_test

// Benchmarks for the figures of SPEC section 6. Every group names its
// implementations with an impl= key, atomic first, so that
//
//	go test -run='^$' -bench=. -count=6 . > new.txt
//	benchstat -col /impl new.txt
//
// prints each implementation side by side with atomic.Int64 as the base.
// Build with -tags purego to measure the generic fast path; the first line
// of the output ("fastpath: ...") says which one ran.

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/percpuref"
	"github.com/percpuref/percpu/shard"
)

// newCAS returns the kref pattern on one shared word, holding one
// reference: a get that fails on zero (a compare-and-swap loop) and a put
// that reports the last reference.
func newCAS() *baseline.PaddedInt64 {
	c := new(baseline.PaddedInt64)
	c.Store(1)
	return c
}

// Sinks keep the results of the measured loops alive.
var (
	sinkBool  bool
	sinkInt   int64
	sinkBytes float64
)

var printFastPath sync.Once

// header prints, once per run, the fast path under test as a benchstat
// configuration line, so that results from -tags purego and default builds
// stay attributable. It runs before any sub-benchmark prints a result.
func header() {
	printFastPath.Do(func() { fmt.Printf("fastpath: %s\n", percpu.FastPath()) })
}

// modes runs f serially and in parallel, as sub-benchmarks named serial and
// parallel.
func modes(b *testing.B, f func(b *testing.B, parallel bool)) {
	b.Run("serial", func(b *testing.B) { f(b, false) })
	b.Run("parallel", func(b *testing.B) { f(b, true) })
}

type impl struct {
	name string
	run  func(b *testing.B, parallel bool)
}

func runImpls(b *testing.B, parallel bool, impls []impl) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) { im.run(b, parallel) })
	}
}

// Each loop below is written out per implementation, with no closure or
// interface call per operation, so that what is timed is the pair itself.

func atomicAddAdd(b *testing.B, parallel bool) {
	c := new(baseline.PaddedInt64)
	c.Store(1)
	if !parallel {
		var v int64
		for i := 0; i < b.N; i++ {
			c.Add(1)
			v = c.Add(-1)
		}
		sinkInt = v
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		var v int64
		for pb.Next() {
			c.Add(1)
			v = c.Add(-1)
		}
		sinkInt = v
	})
}

func casGetPut(b *testing.B, parallel bool) {
	c := newCAS()
	if !parallel {
		ok := true
		for i := 0; i < b.N; i++ {
			if c.TryGet() {
				ok = c.Put()
			}
		}
		sinkBool = ok
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ok := true
		for pb.Next() {
			if c.TryGet() {
				ok = c.Put()
			}
		}
		sinkBool = ok
	})
}

func xsyncIncDec(b *testing.B, parallel bool) {
	c := xsync.NewCounter()
	c.Inc()
	if !parallel {
		for i := 0; i < b.N; i++ {
			c.Inc()
			c.Dec()
		}
		sinkInt = c.Value()
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
			c.Dec()
		}
	})
	sinkInt = c.Value()
}

// refGetPut measures Get+Put on r.
func refGetPut(b *testing.B, r *percpuref.Ref, parallel bool) {
	if !parallel {
		ok := false
		for i := 0; i < b.N; i++ {
			r.Get()
			ok = r.Put()
		}
		sinkBool = ok
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ok := false
		for pb.Next() {
			r.Get()
			ok = r.Put()
		}
		sinkBool = ok
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
		sinkBool = ok
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ok := false
		for pb.Next() {
			if r.TryGetLive() {
				ok = r.Put()
			}
		}
		sinkBool = ok
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
		sinkBool = ok
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ok := false
		for pb.Next() {
			if r.GetUnlessZero() {
				ok = r.Put()
			}
		}
		sinkBool = ok
	})
}

// killed returns a Ref in atomic mode after Kill, kept alive by one extra
// reference (count 1), and a function that drops it at the end.
func killed(b *testing.B) (*percpuref.Ref, func()) {
	r := percpuref.New(nil)
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

// BenchmarkGetPut is the Get+Put pair in per-CPU mode against one shared
// atomic word (Add/Add), the CAS increment-unless-zero counter and
// xsync.Counter (Inc/Dec).
func BenchmarkGetPut(b *testing.B) {
	header()
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{"atomic", atomicAddAdd},
			{"percpuref", func(b *testing.B, parallel bool) {
				r := percpuref.New(nil)
				refGetPut(b, r, parallel)
				r.Kill()
			}},
			{"cas", casGetPut},
			{"xsync", xsyncIncDec},
		})
	})
}

// BenchmarkTryGetLive is TryGetLive+Put in per-CPU mode; its analogue on one
// word is the CAS counter.
func BenchmarkTryGetLive(b *testing.B) {
	header()
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{"atomic", atomicAddAdd},
			{"percpuref", func(b *testing.B, parallel bool) {
				r := percpuref.New(nil)
				refTryLivePut(b, r, parallel)
				r.Kill()
			}},
			{"cas", casGetPut},
		})
	})
}

// BenchmarkKilled measures a Ref after Kill, in atomic mode, where every
// operation goes to the one central count: Get+Put against Add/Add, and
// GetUnlessZero+Put against the CAS counter.
func BenchmarkKilled(b *testing.B) {
	header()
	b.Run("getput", func(b *testing.B) {
		modes(b, func(b *testing.B, parallel bool) {
			runImpls(b, parallel, []impl{
				{"atomic", atomicAddAdd},
				{"percpuref", func(b *testing.B, parallel bool) {
					r, done := killed(b)
					refGetPut(b, r, parallel)
					done()
				}},
			})
		})
	})
	b.Run("getunlesszero", func(b *testing.B) {
		modes(b, func(b *testing.B, parallel bool) {
			runImpls(b, parallel, []impl{
				{"atomic", atomicAddAdd},
				{"percpuref", func(b *testing.B, parallel bool) {
					r, done := killed(b)
					refUnlessZeroPut(b, r, parallel)
					done()
				}},
				{"cas", casGetPut},
			})
		})
	})
}

// BenchmarkKill is the latency of Kill on a live Ref with no other
// references: fold the shards, switch to atomic mode, drop the initial
// reference and release. Refs are made in batches with the timer stopped.
func BenchmarkKill(b *testing.B) {
	header()
	for _, shards := range []int{1, 2, 8, 64} {
		b.Run(fmt.Sprintf("shards=%d/impl=percpuref", shards), func(b *testing.B) {
			const batch = 512
			refs := make([]*percpuref.Ref, batch)
			released := 0
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				n := min(batch, b.N-i)
				b.StopTimer()
				for j := range n {
					refs[j] = percpuref.New(func() { released++ }, percpuref.WithShards(shards))
				}
				b.StartTimer()
				for _, r := range refs[:n] {
					r.Kill()
				}
			}
			b.StopTimer()
			if released != b.N {
				b.Fatalf("released %d of %d", released, b.N)
			}
		})
	}
}

// BenchmarkMemory reports the heap bytes per live Ref (per-CPU mode, default
// shards for GOMAXPROCS), and per xsync.Counter for scale, from HeapAlloc
// deltas after a GC. The slice holding the pointers is allocated before the
// first reading and is not counted. Its ns/op (which is mostly GC) is
// suppressed.
func BenchmarkMemory(b *testing.B) {
	header()
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("refs=%d", n), func(b *testing.B) {
			b.Run("impl=percpuref", func(b *testing.B) {
				refs := make([]*percpuref.Ref, n)
				measureHeap(b, n, func() {
					for i := range refs {
						refs[i] = percpuref.New(nil)
					}
				}, func() { clear(refs) })
				runtime.KeepAlive(refs)
			})
			b.Run("impl=xsync", func(b *testing.B) {
				cs := make([]*xsync.Counter, n)
				measureHeap(b, n, func() {
					for i := range cs {
						cs[i] = xsync.NewCounter()
					}
				}, func() { clear(cs) })
				runtime.KeepAlive(cs)
			})
		})
	}
}

// measureHeap reports B/ref: the growth of HeapAlloc across fill, per
// object, averaged over b.N rounds; drop makes the objects unreachable.
func measureHeap(b *testing.B, n int, fill, drop func()) {
	var before, after runtime.MemStats
	var total float64
	for i := 0; i < b.N; i++ {
		drop()
		runtime.GC()
		runtime.ReadMemStats(&before)
		fill()
		runtime.GC()
		runtime.ReadMemStats(&after)
		total += float64(after.HeapAlloc) - float64(before.HeapAlloc)
	}
	drop()
	sinkBytes = total
	b.ReportMetric(total/float64(b.N)/float64(n), "B/ref")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPrimitives measures the root package's primitives alone, each
// beside the atomic.Int64 pair they replace: the P hint (Hint), the shared
// cell update (AddLocal, an atomic add on the caller's cell) and the
// single-writer update (UpdateLocal: assembly with no lock on amd64 and
// arm64; procPin and sequentially consistent atomics with -tags purego, whose
// run gives the same names for benchstat to compare across builds). Each
// iteration is a +1 and a -1, as in a Get+Put pair, but Hint, which is
// called twice.
func BenchmarkPrimitives(b *testing.B) {
	header()
	var cells percpu.Cells // a slot of the arena, as a Ref has by default
	cells.Base, cells.Last, cells.Shift = shard.TakeSlot()
	cells.State.Store(percpu.Live)
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{"atomic", atomicAddAdd},
			{"hint", func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { sinkInt += int64(percpu.Hint() + percpu.Hint()) })
			}},
			{"addlocal", func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { percpu.AddLocal(&cells, 1); sinkInt, _ = percpu.AddLocal(&cells, -1) })
			}},
			{"updatelocal", func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { percpu.UpdateLocal(&cells, 1); sinkBool = percpu.UpdateLocal(&cells, -1) })
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
