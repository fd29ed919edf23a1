package percpu_test

// Benchmarks for the figures of the README's Results. Every group names its
// implementations with an impl= key, the baseline first (atomic, or in
// BenchmarkFalseSharing distant), so that
//
//	go test -run='^$' -bench=. -count=6 . > new.txt
//	benchstat -col /impl new.txt
//
// prints each implementation side by side with the baseline as the base;
// -col '/impl@(padded dense)' and the like pick and order the columns.
// Build with -tags purego to measure the generic fast path; the first line
// of the output ("fastpath: ...") says which one ran.

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/internal/fastpath"
	"github.com/percpuref/percpu/internal/heapmeter"
	"github.com/percpuref/percpu/internal/slots"
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

// Sinks keep the results of the measured loops alive.
var (
	sinkBool bool
	sinkInt  int64
)

// The scaffolding shared with cmd/compare's benchmarks (internal/benchkit).
type impl = benchkit.Impl

var (
	header          = benchkit.Header
	modes           = benchkit.Modes
	runImpls        = benchkit.RunImpls
	atomicAddAdd    = benchkit.AtomicAddAdd
	refGetPut       = benchkit.RefGetPut
	reportLatencies = benchkit.ReportLatencies
)

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

// BenchmarkGetPut is the Get+Put pair in per-CPU mode (an Eager Ref, which
// has its cells from the start; BenchmarkLazy measures a default Ref, which
// counts centrally until it is contended) against one shared atomic word
// (Add/Add) and the CAS increment-unless-zero counter.
// cmd/compare measures xsync.Counter (Inc/Dec) beside them.
func BenchmarkGetPut(b *testing.B) {
	header()
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{Name: "atomic", Run: atomicAddAdd},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.Eager())
				refGetPut(b, r, parallel)
				r.Kill()
			}},
			{Name: "cas", Run: casGetPut},
		})
	})
}

// BenchmarkTryGetLive is TryGetLive+Put in per-CPU mode (Eager); its analogue on one
// word is the CAS counter.
func BenchmarkTryGetLive(b *testing.B) {
	header()
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{Name: "atomic", Run: atomicAddAdd},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.Eager())
				refTryLivePut(b, r, parallel)
				r.Kill()
			}},
			{Name: "cas", Run: casGetPut},
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
				{Name: "atomic", Run: atomicAddAdd},
				{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
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
				{Name: "atomic", Run: atomicAddAdd},
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

// BenchmarkKill is the latency of Kill on a live Ref with no other
// references: fold the cells, switch to atomic mode, drop the initial
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

// noRelease is the release of the objects BenchmarkMemory makes: a plain
// function, so that no closure is allocated per object, for percpuref and
// kref alike.
func noRelease() {}

// memoryImpls are the implementations BenchmarkMemory measures, atomic
// (the kref struct above) first.
var memoryImpls = []string{"atomic", "percpuref", "percpuref-padded"}

// BenchmarkMemory reports the heap bytes per live object, B/ref: the growth
// of HeapAlloc, after a GC, when refs objects are made and kept live, over
// refs. percpuref is a Ref with its slots in the shared per-P slabs (the
// default), percpuref-padded one with padded shards of its own
// (WithShards(0)), atomic the kref struct above. cmd/compare measures an
// xsync.Counter for scale.
//
// The slot arena never frees a chunk, and a process that has made and
// dropped Refs before has free slots that new Refs take without growing the
// heap, so every measurement runs in a child process of its own (this test
// binary again, running TestMemoryChild only) with GOMAXPROCS set to procs;
// Ps may outnumber the CPUs. The child checks that its arena is empty
// before it starts. procs=64 with 100000 objects of the padded kinds holds
// about 800 MB for a moment.
//
// B/ref is the median over the b.N children: at refs=1 a child still sees,
// now and then, up to a few hundred bytes (at procs=64 up to 2 KB) that the
// runtime allocates in the background. target-B/ref is the goal for
// percpuref, 64 + 8 x procs bytes per Ref, amortised (so for many Refs).
// offheap-B/ref, for many objects only, is the growth of the runtime's
// off-heap memory (MemStats.OtherSys): the 48-byte record of the
// runtime.AddCleanup each default Ref registers lives there, not in the
// heap, along with metadata that grows with the heap (about 25 B per object
// at procs=64 for the padded kinds, which register none). ns/op, the time
// of a child, is suppressed.
func BenchmarkMemory(b *testing.B) {
	header()
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("refs=%d", n), func(b *testing.B) {
			for _, procs := range []int{2, 64} {
				b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
					for _, im := range memoryImpls {
						b.Run("impl="+im, func(b *testing.B) {
							heap := make([]float64, b.N)
							off := make([]float64, b.N)
							for i := range b.N {
								s, err := memoryChild.Run(im, n, procs)
								if err != nil {
									b.Fatal(err)
								}
								heap[i], off[i] = s.Heap, s.OffHeap
							}
							b.ReportMetric(heapmeter.Median(heap), "B/ref")
							b.ReportMetric(float64(64+8*procs), "target-B/ref")
							if n >= 1000 {
								b.ReportMetric(heapmeter.Median(off), "offheap-B/ref")
							}
							b.ReportMetric(0, "ns/op")
						})
					}
				})
			}
		})
	}
}

// memoryChild runs each measurement of BenchmarkMemory in a new process of
// this test binary, running TestMemoryChild only; PERCPU_MEMORY_CHILD,
// set to "impl,refs", carries the request.
var memoryChild = heapmeter.Child{Test: "TestMemoryChild", Env: "PERCPU_MEMORY_CHILD"}

// TestMemoryChild is the child process of BenchmarkMemory; without
// PERCPU_MEMORY_CHILD in the environment it skips. It checks that the slot
// arena is empty before it measures.
func TestMemoryChild(t *testing.T) {
	if !memoryChild.Requested() {
		t.Skip("the child process of BenchmarkMemory; runs only with " + memoryChild.Env + " set")
	}
	if s := slots.Stats(); s.Chunks != 0 {
		t.Fatalf("the slot arena is not fresh: %+v", s)
	}
	if err := memoryChild.Serve(os.Stdout, newMemoryObjects); err != nil {
		t.Fatal(err)
	}
}

// newMemoryObjects fills keep with new objects of impl, one of
// memoryImpls, for TestMemoryChild to measure.
func newMemoryObjects(impl string, keep []any) error {
	switch impl {
	case "atomic":
		for i := range keep {
			keep[i] = baseline.NewKref(noRelease)
		}
	case "percpuref":
		for i := range keep {
			keep[i] = percpuref.New(noRelease, percpuref.Eager())
		}
	case "percpuref-padded":
		for i := range keep {
			keep[i] = percpuref.New(noRelease, percpuref.WithShards(0))
		}
	default:
		return fmt.Errorf("unknown impl %q", impl)
	}
	return nil
}

// BenchmarkLayout is Get+Put on a live Ref with its per-CPU counts in the
// shared per-P slabs (dense, the default) and in padded shards of its own
// (padded, WithShards(0)), beside atomic Add/Add on one word.
func BenchmarkLayout(b *testing.B) {
	header()
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{Name: "atomic", Run: atomicAddAdd},
			{Name: "dense", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.Eager())
				refGetPut(b, r, parallel)
				r.Kill()
			}},
			{Name: "padded", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.WithShards(0))
				refGetPut(b, r, parallel)
				r.Kill()
			}},
		})
	})
}

// BenchmarkLifecycle is the whole life of a reference count that nobody
// else takes: make it and drop the owner's reference, which releases. atomic
// is the kref struct (allocate, Store(1), Add(-1) reaches 0, release);
// percpuref is New and Kill of a default Ref, which never spread and so
// never took cells; percpuref-eager is New and Kill with a slot in the
// shared slabs (a Ref that spread costs the same), whose slot goes back to
// the arena after the next GC; percpuref-padded the same with padded
// shards; percpuref-atomic is New with InitAtomic and the Put that takes the
// count to zero. The GC work that the allocations cause is part of the
// cost, as it is for a user.
func BenchmarkLifecycle(b *testing.B) {
	header()
	run := func(b *testing.B, life func(release func())) {
		released := 0
		release := func() { released++ }
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			life(release)
		}
		b.StopTimer()
		if released != b.N {
			b.Fatalf("released %d of %d", released, b.N)
		}
	}
	b.Run("impl=atomic", func(b *testing.B) {
		run(b, func(release func()) {
			k := baseline.NewKref(release)
			k.Put()
		})
	})
	b.Run("impl=percpuref", func(b *testing.B) {
		run(b, func(release func()) {
			r := percpuref.New(release)
			r.Kill()
		})
	})
	b.Run("impl=percpuref-eager", func(b *testing.B) {
		run(b, func(release func()) {
			r := percpuref.New(release, percpuref.Eager())
			r.Kill()
		})
	})
	b.Run("impl=percpuref-padded", func(b *testing.B) {
		run(b, func(release func()) {
			r := percpuref.New(release, percpuref.WithShards(0))
			r.Kill()
		})
	})
	b.Run("impl=percpuref-atomic", func(b *testing.B) {
		run(b, func(release func()) {
			r := percpuref.New(release, percpuref.InitAtomic())
			r.Put()
		})
	})
}

// BenchmarkNeighbour is Get+Put on one Ref from GOMAXPROCS goroutines
// (b.RunParallel), each of which also stores to a word of its own after
// every pair, as testing.PB's Next does. With impl=apart the words are on
// lines of their own; with impl=sameline they share the Ref's 64-byte line,
// as the other half of a line does with a Ref made by New. The difference
// is what a write-hot neighbour costs a hot Ref: keep hot Refs away from
// fields that other cores write (embed them among read-mostly fields, or
// pad them as baseline.NewPaddedRef does). Up to four goroutines have a
// word each.
func BenchmarkNeighbour(b *testing.B) {
	header()
	type sameLine struct {
		_ [percpu.CacheLinePad]byte
		percpuref.Ref
		words [4]int64 // on the Ref's line: checked below
		_     [percpu.CacheLinePad]byte
	}
	run := func(b *testing.B, r *percpuref.Ref, word func(i int) *int64) {
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			w := word(int(next.Add(1)-1) % 4)
			ok := false
			for pb.Next() {
				r.Get()
				ok = r.Put()
				*w++
			}
			sinkBool = ok
		})
	}
	b.Run("impl=apart", func(b *testing.B) {
		r := baseline.NewPaddedRef(nil, percpuref.Eager())
		var words [4]struct {
			_ [percpu.CacheLinePad]byte
			n int64
		}
		run(b, r, func(i int) *int64 { return &words[i].n })
		r.Kill()
	})
	b.Run("impl=sameline", func(b *testing.B) {
		s := new(sameLine)
		s.Init(nil)
		line := func(p unsafe.Pointer) uintptr { return uintptr(p) / 64 }
		if line(unsafe.Pointer(&s.Ref)) != line(unsafe.Pointer(&s.words[3])) {
			b.Fatalf("the words are not on the Ref's line (Ref at %p, words at %p)", &s.Ref, &s.words)
		}
		run(b, &s.Ref, func(i int) *int64 { return &s.words[i] })
		s.Kill()
	})
}

// BenchmarkFalseSharing runs GOMAXPROCS goroutines (b.RunParallel), each
// doing Get+Put on a Ref of its own, the Refs made in a row:
//
//	distant          made 1000 apart: slots 1000 slots apart in each slab
//	adjacent         made one after the other: neighbouring slots in each
//	                 slab, and neighbouring Ref structs
//	padded           made one after the other with WithShards(0)
//	atomic-distant   Add(1)/Add(-1) on padded atomic.Int64s, one each
//	atomic-adjacent  the same on neighbouring atomic.Int64s, which share a
//	                 cache line: what false sharing costs here
//
// adjacent should be as fast as distant: each P writes only its own slab,
// and the fast path only reads the Ref struct. The Refs are made once per
// process, untimed; their slots are checked to be fresh and in order, and
// the adjacent Refs to be neighbours.
func BenchmarkFalseSharing(b *testing.B) {
	header()
	procs := runtime.GOMAXPROCS(0)
	b.Run("impl=distant", func(b *testing.B) {
		hammerRefs(b, falseSharingRefs(b, "distant", procs))
	})
	b.Run("impl=adjacent", func(b *testing.B) {
		hammerRefs(b, falseSharingRefs(b, "adjacent", procs))
	})
	b.Run("impl=padded", func(b *testing.B) {
		hammerRefs(b, falseSharingRefs(b, "padded", procs))
	})
	b.Run("impl=atomic-distant", func(b *testing.B) {
		padded := make([]baseline.PaddedInt64, procs)
		cs := make([]*atomic.Int64, procs)
		for i := range cs {
			cs[i] = &padded[i].Int64
		}
		hammerAtomics(b, cs)
	})
	b.Run("impl=atomic-adjacent", func(b *testing.B) {
		words := make([]atomic.Int64, procs)
		cs := make([]*atomic.Int64, procs)
		for i := range cs {
			cs[i] = &words[i]
		}
		hammerAtomics(b, cs)
	})
}

// falseSharingSets holds the Refs of BenchmarkFalseSharing, made once per
// layout and GOMAXPROCS and kept live (with every Ref made on the way) for
// the rest of the process: made afresh for every run of a sub-benchmark,
// they would have to take every free slot of the arena first, a number
// that would grow with every run.
var falseSharingSets = map[string][]*percpuref.Ref{}

func falseSharingRefs(b *testing.B, layout string, procs int) []*percpuref.Ref {
	k := fmt.Sprintf("%s/%d", layout, procs)
	if refs, ok := falseSharingSets[k]; ok {
		return refs
	}
	var refs []*percpuref.Ref
	switch layout {
	case "distant":
		refs = arenaRefs(b, procs, 1000)
	case "adjacent":
		refs = arenaRefs(b, procs, 1)
	case "padded":
		for range procs {
			refs = append(refs, percpuref.New(nil, percpuref.WithShards(0)))
		}
	}
	falseSharingSets[k] = refs
	return refs
}

// arenaRefs returns k Refs whose slots are fresh and gap slots apart, in
// order. It first waits for retired slots to be freed and takes every free
// slot, so that the Refs get slots that were never used. With gap 1 it also
// checks that the slots lie in one chunk and that the Ref structs are
// neighbours. Every Ref it makes stays live.
func arenaRefs(b *testing.B, k, gap int) []*percpuref.Ref {
	var all []*percpuref.Ref
	defer func() { arenaKeep = append(arenaKeep, all...) }()
	for i := 0; i < 100 && slots.Stats().Retired > 0; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	s := slots.Stats()
	for range s.Slots - s.Live - s.Retired {
		all = append(all, percpuref.New(nil, percpuref.Eager()))
	}
	for range 10 {
		var refs []*percpuref.Ref
		s0 := slots.Stats()
		var first slots.ArenaStats
		for i := range k {
			if i > 0 {
				for range gap - 1 {
					all = append(all, percpuref.New(nil, percpuref.Eager()))
				}
			}
			r := percpuref.New(nil, percpuref.Eager())
			refs = append(refs, r)
			all = append(all, r)
			if i == 0 {
				first = slots.Stats()
			}
		}
		s1 := slots.Stats()
		ok := s1.Slots-s0.Slots == (k-1)*gap+1
		if gap == 1 {
			ok = ok && s1.Chunks == first.Chunks
			for i := 1; i < k; i++ {
				d := uintptr(unsafe.Pointer(refs[i])) - uintptr(unsafe.Pointer(refs[i-1]))
				ok = ok && d == unsafe.Sizeof(percpuref.Ref{})
			}
		}
		if ok {
			return refs
		}
	}
	b.Fatalf("could not make %d Refs with fresh slots %d apart", k, gap)
	return nil
}

// arenaKeep keeps the Refs arenaRefs makes live, so that their slots do not
// go back to the arena's free list.
var arenaKeep []*percpuref.Ref

// hammerRefs runs Get+Put on GOMAXPROCS goroutines, each on its own Ref of
// refs (refs[i % len(refs)] for the i-th goroutine).
func hammerRefs(b *testing.B, refs []*percpuref.Ref) {
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := refs[int(next.Add(1)-1)%len(refs)]
		ok := false
		for pb.Next() {
			r.Get()
			ok = r.Put()
		}
		sinkBool = ok
	})
}

// hammerAtomics runs Add(1)/Add(-1) on GOMAXPROCS goroutines, each on its
// own word of cs.
func hammerAtomics(b *testing.B, cs []*atomic.Int64) {
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := cs[int(next.Add(1)-1)%len(cs)]
		var v int64
		for pb.Next() {
			c.Add(1)
			v = c.Add(-1)
		}
		sinkInt = v
	})
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
	var c cells.Cells // a slot of the arena, as a Ref has by default
	c.Base, c.Last, c.Shift = slots.TakeSlot()
	c.State.Store(cells.Live)
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{Name: "atomic", Run: atomicAddAdd},
			{Name: "hint", Run: func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { sinkInt += int64(percpu.Hint() + percpu.Hint()) })
			}},
			{Name: "addlocal", Run: func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { fastpath.AddLocal(&c, 1); sinkInt, _ = fastpath.AddLocal(&c, -1) })
			}},
			{Name: "updatelocal", Run: func(b *testing.B, parallel bool) {
				loop(b, parallel, func() { fastpath.UpdateLocal(&c, 1); sinkBool = fastpath.UpdateLocal(&c, -1) })
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
	header()
	b.Run("impl=atomic", func(b *testing.B) { atomicAddAdd(b, false) })
	b.Run("impl=alu", func(b *testing.B) {
		var a0, a1, a2, a3 uint64 = 1, 2, 3, 4
		for i := 0; i < b.N; i++ {
			a0 = a0*3 + 1
			a1 = a1*5 + 1
			a2 = a2 ^ (a2 >> 3) + 7
			a3 = a3 ^ (a3 << 1) + 9
			a0 ^= a1 >> 7
			a2 ^= a3 >> 5
		}
		sinkInt = int64(a0 + a1 + a2 + a3)
	})
}
