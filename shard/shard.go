// Package shard provides cache-line-padded counters spread over the Ps of
// the Go scheduler, so that goroutines on different cores update different
// cache lines.
//
// A Set is the raw memory: a power-of-two number of padded 64-bit cells,
// indexed by the P hint of package percpu. Counter is a striped counter built
// on a Set that needs nothing else. Package percpuref builds its refcount on
// Sets.
package shard

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/percpuref/percpu"
)

// MaxCells bounds the number of cells in a Set. Beyond it, Ps share cells;
// they stay correct (every cell update is atomic) and only contend more.
const MaxCells = 1024

// Cell is one shard: a 64-bit count alone on its cache line, with the busy
// flag of percpu.UpdateLocal beside it.
type Cell struct {
	atomic.Int64
	busy atomic.Uint32 // at offset 8, where percpu.Busy expects it
	_    [percpu.CacheLinePad - 12]byte
}

// A Set is a fixed number of Cells, a power of two, each padded to
// percpu.CacheLinePad bytes. The cells come from one allocation whose size is
// a power-of-two multiple of the pad, which the Go allocator aligns to its
// size class, so no two cells share a cache line with each other or with
// another object.
//
// A Set never grows: when GOMAXPROCS exceeds its length, P ids wrap around
// and several Ps share a cell.
type Set struct {
	c     percpu.Cells // first: Cells relies on it. Base is &cells[0]; Bind sets State and Want
	cells []Cell
}

// DefaultCells returns the number of cells a Set needs for the current
// GOMAXPROCS: GOMAXPROCS rounded up to a power of two, at most MaxCells.
func DefaultCells() int {
	return roundCells(runtime.GOMAXPROCS(0))
}

func roundCells(n int) int {
	if n <= 1 {
		return 1
	}
	if n >= MaxCells {
		return MaxCells
	}
	return 1 << bits.Len(uint(n-1))
}

// NewSet returns a Set of n cells, n rounded up to a power of two and clamped
// to [1, MaxCells]. Every cell starts at 0.
func NewSet(n int) *Set {
	n = roundCells(n)
	cells := make([]Cell, n)
	return &Set{c: percpu.Cells{Base: &cells[0].Int64, Mask: n - 1}, cells: cells}
}

// Len returns the number of cells.
func (s *Set) Len() int { return len(s.cells) }

// Cell returns cell i modulo Len.
func (s *Set) Cell(i int) *atomic.Int64 { return &s.cells[i&s.c.Mask].Int64 }

// AddLocal adds delta to the cell of the caller's P and returns the cell's
// value before the add, in one atomic read-modify-write.
func (s *Set) AddLocal(delta int64) (old int64) {
	return percpu.AddLocal(&s.c, delta)
}

// Bind makes UpdateLocal store only while *state == want. Call it before the
// Set is shared.
func (s *Set) Bind(state *atomic.Uint32, want uint32) {
	s.c.State, s.c.Want = state, want
}

// UpdateLocal adds delta to the cell of the caller's P as its only writer,
// if the state given to Bind holds its wanted value; see
// percpu.UpdateLocal. It reports whether it did. The Set must be bound.
func (s *Set) UpdateLocal(delta int64) bool {
	return percpu.UpdateLocal(&s.c, delta)
}

// Cells returns the descriptor of the cells, for percpu.UpdateLocal and
// percpu.AddLocal, or nil for a nil Set (which percpu.UpdateLocal refuses):
// a fast path can then skip its own nil check.
func (s *Set) Cells() *percpu.Cells {
	return (*percpu.Cells)(unsafe.Pointer(s)) // c is the first field
}

// WaitIdle returns once no cell's busy flag is set: every UpdateLocal that
// was in progress has finished. A goroutine holds the flag only inside the
// update on its own P, for a few instructions, so the wait is short unless
// its thread was descheduled; WaitIdle yields while it waits.
func (s *Set) WaitIdle() {
	for i := range s.cells {
		for s.cells[i].busy.Load() != 0 {
			runtime.Gosched()
		}
	}
}

// Bytes returns the memory the cells occupy.
func (s *Set) Bytes() int { return len(s.cells) * percpu.CacheLinePad }
