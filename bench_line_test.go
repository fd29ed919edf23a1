package percpu_test

import (
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/percpuref/percpu"
)

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
	header()
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{Name: "atomic", Run: atomicAddAdd},
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
// and putFast do. The loops are written out, as in bench_test.go.
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
		sinkInt = bad
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
		sinkInt = bad
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
		sinkInt = bad
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
		sinkInt = bad
	})
}
