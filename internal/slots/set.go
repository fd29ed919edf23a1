// Package shard provides cache-line-padded counters spread over the Ps of
// the Go scheduler, so that goroutines on different cores update different
// cache lines.
//
// A Set is the raw memory: a power-of-two number of padded 64-bit cells,
// indexed by the P hint of package percpu. Counter is a striped counter built
// on a Set that needs nothing else. Package percpuref builds its refcount on
// Sets.
package slots

import (
	"math/bits"
	"runtime"
	"sync/atomic"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/internal/fastpath"
)

// MaxCells bounds the number of cells in a Set. Beyond it, Ps share cells;
// they stay correct (every cell update is atomic) and only contend more.
const MaxCells = 1024

// Cell is one shard: a 64-bit count alone on its cache line.
type Cell struct {
	atomic.Int64
	_ [percpu.CacheLinePad - 8]byte
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
	c     cells.Cells // Base is &cells[0]; State is Live
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
	s := &Set{cells: make([]Cell, n)}
	s.c.Base = &s.cells[0].Int64
	s.c.Last = uint16(n - 1)
	s.c.Shift = padShift
	s.c.State.Store(cells.Live)
	return s
}

// padShift is log2(percpu.CacheLinePad), the Shift of a Set's Cells.
const padShift = 7

// Len returns the number of cells.
func (s *Set) Len() int { return len(s.cells) }

// Cell returns cell i modulo Len.
func (s *Set) Cell(i int) *atomic.Int64 { return &s.cells[i&int(s.c.Last)].Int64 }

// AddLocal adds delta to the cell of the caller's P and returns the cell's
// value before the add, in one atomic read-modify-write.
func (s *Set) AddLocal(delta int64) (old int64) {
	old, _ = fastpath.AddLocal(&s.c, delta) // State is always Live
	return old
}

// Layout returns the Base, Last and Shift that describe the cells in a
// cells.Cells. The Set's memory stays alive as long as a pointer to it
// (Base) does.
func (s *Set) Layout() (base *atomic.Int64, last uint16, shift uint8) {
	return s.c.Base, s.c.Last, s.c.Shift
}

// Bytes returns the memory the cells occupy.
func (s *Set) Bytes() int { return len(s.cells) * percpu.CacheLinePad }
