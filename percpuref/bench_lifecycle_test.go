package percpuref_test

// The whole life of a Ref, alone (BenchmarkLifecycle) and while other
// goroutines live theirs (BenchmarkKillConcurrent); the latency of Kill
// (BenchmarkKill); and the heap bytes a live Ref costs (BenchmarkMemory).

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/internal/cpumeter"
	"github.com/percpuref/percpu/internal/fastpath"
	"github.com/percpuref/percpu/internal/heapmeter"
	"github.com/percpuref/percpu/internal/slots"
	"github.com/percpuref/percpu/percpuref"
)

// BenchmarkLifecycle is the whole life of a reference count that nobody
// else takes: make it and drop the owner's reference, which releases. atomic
// is the kref struct (allocate, Store(1), Add(-1) reaches 0, release);
// percpuref is New and Kill of a default Ref, which never spread and so
// never took cells; percpuref-eager is New and Kill with a slot in the
// shared slabs (a Ref that spread costs the same), whose slot goes back to
// the arena after the next GC; percpuref-eager-killall the same Refs made
// killAllBatch at a time and killed together by KillAll, which shares one
// membarrier among them (a cache's shutdown); percpuref-eager-async the
// same Refs killed one by one with KillAsync, whose folder goroutine
// releases them in batches under one membarrier each, timed until the last
// release has run, with the CPU time of every goroutine per life
// (cpu-ns/op: the folder's work as well as the caller's); percpuref-padded the same with padded
// shards; percpuref-atomic is New with InitAtomic and the Put that takes the
// count to zero. The GC work that the allocations cause is part of the
// cost, as it is for a user.
// killAllBatch is the number of Refs that KillAll shares one membarrier
// among (percpuref/killall.go).
const killAllBatch = 64

func BenchmarkLifecycle(b *testing.B) {
	benchkit.Header()
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
	b.Run("impl=percpuref-eager-killall", func(b *testing.B) {
		released := 0
		release := func() { released++ }
		b.ReportAllocs()
		batch := make([]*percpuref.Ref, 0, killAllBatch)
		for i := 0; i < b.N; i++ {
			batch = append(batch, percpuref.New(release, percpuref.Eager()))
			if len(batch) == cap(batch) || i == b.N-1 {
				percpuref.KillAll(batch...)
				clear(batch)
				batch = batch[:0]
			}
		}
		b.StopTimer()
		if released != b.N {
			b.Fatalf("released %d of %d", released, b.N)
		}
	})
	b.Run("impl=percpuref-eager-async", func(b *testing.B) {
		var released sync.WaitGroup
		release := released.Done
		var cpu cpumeter.Meter
		b.ReportAllocs()
		released.Add(b.N)
		cpu.Begin()
		for i := 0; i < b.N; i++ {
			r := percpuref.New(release, percpuref.Eager())
			r.KillAsync()
		}
		released.Wait() // a life ends at its release, in a folder goroutine
		b.StopTimer()
		cpu.End(b)
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

// BenchmarkKillConcurrent is the whole life of a Ref killed while other
// goroutines kill theirs: New, a Get and a Put, and Kill, which drops the
// owner's reference and releases; percpuref is a default Ref, which never
// took cells, percpuref-eager one that has them, percpuref-eager-async the
// same killed with KillAsync, whose lives end when a folder goroutine
// releases them (the timer stops after the last release). Serially, one goroutine lives the lives
// one after another; in parallel, GOMAXPROCS goroutines (b.RunParallel)
// live their own at once, and with goroutines=4xP four times as many, so
// that several wait on each P. A Kill in the exclusive protocol waits for a
// membarrier that began after its state store, and concurrent Kills share
// one where they can (the root package's quiesce.go): barriers/Kill is how
// many the process issued per life (0 where quiesce makes none: the generic
// build, the fetchadd protocol, and atomic). atomic is the same life of the kref struct
// (baseline.NewKref, a Get and a Put, and the Put that releases). Every
// life must release exactly once. cpu-ns/op is the process's CPU time per
// life, every goroutine's (cpumeter.Meter).
//
//	go test -run='^$' -bench=KillConcurrent -count=8 ./percpuref/ > new.txt
//	benchstat -col /impl new.txt
func BenchmarkKillConcurrent(b *testing.B) {
	benchkit.Header()
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 1, krefLife) }},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 1, refLife) }},
			{Name: "percpuref-eager", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 1, eagerLife) }},
			{Name: "percpuref-eager-async", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 1, eagerAsyncLife) }},
		})
	})
	b.Run("goroutines=4xP", func(b *testing.B) {
		benchkit.RunImpls(b, true, []benchkit.Impl{
			{Name: "atomic", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 4, krefLife) }},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 4, refLife) }},
			{Name: "percpuref-eager", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 4, eagerLife) }},
			{Name: "percpuref-eager-async", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 4, eagerAsyncLife) }},
		})
	})
}

// krefLife and refLife are one life each, releasing through release.
func krefLife(release func()) {
	k := baseline.NewKref(release)
	k.Get()
	k.Put()
	k.Put()
}

func refLife(release func()) {
	r := percpuref.New(release)
	r.Get()
	r.Put()
	r.Kill()
}

// eagerLife is refLife for an Eager Ref, which has its cells from New, as a
// Ref that spread does: its Kill waits for a membarrier.
func eagerLife(release func()) {
	r := percpuref.New(release, percpuref.Eager())
	r.Get()
	r.Put()
	r.Kill()
}

// killLives runs b.N lives, serially or on RunParallel's goroutines (par
// per P), checks that every one released exactly once, and reports the
// membarriers issued per life as barriers/Kill.
func eagerAsyncLife(release func()) {
	r := percpuref.New(release, percpuref.Eager())
	r.Get()
	r.Put()
	r.KillAsync()
}
func killLives(b *testing.B, parallel bool, par int, life func(release func())) {
	var released atomic.Int64
	all := make(chan struct{})
	release := func() {
		if released.Add(1) == int64(b.N) {
			close(all)
		}
	}
	b.ReportAllocs()
	barriers := fastpath.Barriers()
	var cpu cpumeter.Meter
	cpu.Begin()
	if !parallel {
		for i := 0; i < b.N; i++ {
			life(release)
		}
	} else {
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				life(release)
			}
		})
	}
	select { // a life ends at its release, which KillAsync leaves to a folder
	case <-all:
	case <-time.After(time.Minute):
	}
	b.StopTimer()
	cpu.End(b)
	if n := released.Load(); n != int64(b.N) {
		b.Fatalf("released %d of %d", n, b.N)
	}
	b.ReportMetric(float64(fastpath.Barriers()-barriers)/float64(b.N), "barriers/Kill")
}

// BenchmarkKill is the latency of Kill on a live Ref with no other
// references: fold the cells, switch to atomic mode, drop the initial
// reference and release. Refs are made in batches with the timer stopped.
func BenchmarkKill(b *testing.B) {
	benchkit.Header()
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
// (the kref struct, baseline.Kref) first.
var memoryImpls = []string{"atomic", "percpuref", "percpuref-padded"}

// BenchmarkMemory reports the heap bytes per live object, B/ref: the growth
// of HeapAlloc, after a GC, when refs objects are made and kept live, over
// refs. percpuref is a Ref with its slots in the shared per-P slabs (the
// default), percpuref-padded one with padded shards of its own
// (WithShards(0)), atomic the kref struct (baseline.Kref). cmd/compare
// measures an xsync.Counter for scale.
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
	benchkit.Header()
	benchkit.MemorySweep(b, memoryChild, memoryImpls, func(b *testing.B, s heapmeter.Sample, n, procs int) {
		b.ReportMetric(float64(64+8*procs), "target-B/ref")
		if n >= 1000 {
			b.ReportMetric(s.OffHeap, "offheap-B/ref")
		}
	})
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
		slots.WatchPending() // the cleanups a Ref that keeps its slot has
	case "percpuref-padded":
		for i := range keep {
			keep[i] = percpuref.New(noRelease, percpuref.WithShards(0))
		}
	default:
		return fmt.Errorf("unknown impl %q", impl)
	}
	return nil
}
