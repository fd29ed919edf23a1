package percpuref_test

// Where a Ref lies in memory: its cells in the shared slabs or in padded
// shards of its own (BenchmarkLayout), a write-hot neighbour on its line
// (BenchmarkNeighbour), Refs made side by side (BenchmarkFalseSharing), and
// the state word beside the central count (BenchmarkStateLine).

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/internal/slots"
	"github.com/percpuref/percpu/percpuref"
)

// BenchmarkLayout is Get+Put on a live Ref with its per-CPU counts in the
// shared per-P slabs (dense, the default) and in padded shards of its own
// (padded, WithShards(0)), beside atomic Add/Add on one word.
func BenchmarkLayout(b *testing.B) {
	benchkit.Header()
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "dense", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.Eager())
				benchkit.RefGetPut(b, r, parallel)
				r.Kill()
			}},
			{Name: "padded", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil, percpuref.WithShards(0))
				benchkit.RefGetPut(b, r, parallel)
				r.Kill()
			}},
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
	benchkit.Header()
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
			benchkit.SinkBool = ok
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
	benchkit.Header()
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
		benchkit.SinkBool = ok
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
		benchkit.SinkInt = v
	})
}

// BenchmarkStateLine isolates what an atomic-mode Get or Put does (after
// Kill, or with InitAtomic): load the Ref's state word, check it, then add
// to the central count with a locked add, the two words 8 bytes apart on
// one cache line. Each iteration is a +1 and a -1, each preceded by the
// load, as in a Get+Put pair:
//
//	atomic    Add(1)/Add(-1) on a padded word, no load: the baseline
//	sameline  load the state, then add to a count on the state's line
//	          (the Ref's layout: state at 8, count at 16)
//	apart     load the state, then add to a count on another line
//	addfirst  add to the count on the state's line, then load the state
//
// Under contention, in sameline the load finds the line taken away by the
// other core's add and brings it in shared, and the add must then take it
// exclusive again: two transfers of the line per operation where atomic
// pays one. apart pays one (the state's line stays shared in every cache,
// nobody writes it); addfirst pays one (the add brings the line in
// exclusive, and the load that follows hits). Serially all four hit in L1.
func BenchmarkStateLine(b *testing.B) {
	benchkit.Header()
	benchkit.Modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "sameline", Run: func(b *testing.B, parallel bool) {
				l := new(stateLine)
				if uintptr(unsafe.Pointer(&l.state))/64 != uintptr(unsafe.Pointer(&l.count))/64 {
					b.Fatal("the state and the count are not on one line")
				}
				loadThenAdd(b, parallel, &l.state, &l.count)
			}},
			{Name: "apart", Run: func(b *testing.B, parallel bool) {
				l := new(stateApart)
				loadThenAdd(b, parallel, &l.state, &l.count)
			}},
			{Name: "addfirst", Run: func(b *testing.B, parallel bool) {
				l := new(stateLine)
				addThenLoad(b, parallel, &l.state, &l.count)
			}},
		})
	})
}

// stateLine has a state word and, 8 bytes after it, a count, as a Ref has
// at offsets 8 and 16, with padding around them so that no other object
// shares their line. (BenchmarkStateLine checks that they share one: in
// the 160-byte size class the state is at 8 or 40 bytes into a line.)
type stateLine struct {
	_     [percpu.CacheLinePad + 8]byte
	state atomic.Uint32
	_     uint32
	count atomic.Int64
	_     [percpu.CacheLinePad]byte
}

// stateApart has the state word and the count on lines of their own.
type stateApart struct {
	_     [percpu.CacheLinePad]byte
	state atomic.Uint32
	_     [percpu.CacheLinePad - 4]byte
	count atomic.Int64
	_     [percpu.CacheLinePad - 8]byte
}

// loadThenAdd is atomic mode's Get+Put: load the state, check it as
// getFast does (usable: st&9 == 1), add, and check the result, as getFast
// and putFast do. The loops are written out, as in bench_getput_test.go.
func loadThenAdd(b *testing.B, parallel bool, state *atomic.Uint32, count *atomic.Int64) {
	state.Store(3) // stInit|stAtomic
	count.Store(1)
	if !parallel {
		var bad int64
		for i := 0; i < b.N; i++ {
			if state.Load()&9 == 1 && count.Add(1) <= 1 {
				bad++
			}
			if state.Load()&9 == 1 && count.Add(-1) <= 0 {
				bad++
			}
		}
		benchkit.SinkInt = bad
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		var bad int64
		for pb.Next() {
			if state.Load()&9 == 1 && count.Add(1) <= 1 {
				bad++
			}
			if state.Load()&9 == 1 && count.Add(-1) <= 0 {
				bad++
			}
		}
		benchkit.SinkInt = bad
	})
}

// addThenLoad is loadThenAdd with the add first and the state's check
// after it.
func addThenLoad(b *testing.B, parallel bool, state *atomic.Uint32, count *atomic.Int64) {
	state.Store(3)
	count.Store(1)
	if !parallel {
		var bad int64
		for i := 0; i < b.N; i++ {
			if count.Add(1) <= 1 || state.Load()&9 != 1 {
				bad++
			}
			if count.Add(-1) <= 0 || state.Load()&9 != 1 {
				bad++
			}
		}
		benchkit.SinkInt = bad
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		var bad int64
		for pb.Next() {
			if count.Add(1) <= 1 || state.Load()&9 != 1 {
				bad++
			}
			if count.Add(-1) <= 0 || state.Load()&9 != 1 {
				bad++
			}
		}
		benchkit.SinkInt = bad
	})
}
