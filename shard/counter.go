// Package shard provides Counter, a 64-bit counter striped over cache-line
// padded cells, one per P of the Go scheduler, so that goroutines on
// different cores add to different cache lines.
package shard

import (
	"sync/atomic"

	"github.com/percpuref/percpu/internal/slots"
)

// MaxCells bounds the number of cells of a Counter. Beyond it, Ps share
// cells; they stay correct (every add is atomic) and only contend more.
const MaxCells = 1024

var _ = [1]struct{}{}[MaxCells-slots.MaxCells] // the same bound as the cells' memory

// DefaultCells returns the number of cells a Counter takes for the current
// GOMAXPROCS: GOMAXPROCS rounded up to a power of two, at most MaxCells.
func DefaultCells() int { return slots.DefaultCells() }

// A Counter is a 64-bit counter striped over per-P cells. Add touches only
// the caller's cell, so concurrent Adds from different cores do not contend;
// Load pays instead, summing every cell.
//
// The zero Counter is ready to use; it allocates its cells (DefaultCells of
// them) on first use. A Counter must not be copied after first use.
type Counter struct {
	set atomic.Pointer[slots.Set]
}

// NewCounter returns a Counter with n cells, n rounded up to a power of two
// and clamped to [1, MaxCells]; n <= 0 means DefaultCells.
func NewCounter(n int) *Counter {
	if n <= 0 {
		n = DefaultCells()
	}
	c := new(Counter)
	c.set.Store(slots.NewSet(n))
	return c
}

func (c *Counter) cells() *slots.Set {
	if s := c.set.Load(); s != nil {
		return s
	}
	c.set.CompareAndSwap(nil, slots.NewSet(DefaultCells()))
	return c.set.Load()
}

// Add adds delta to the counter.
func (c *Counter) Add(delta int64) {
	c.cells().AddLocal(delta)
}

// Load returns the sum of the cells. Adds that run concurrently with Load may
// or may not be included; with no concurrent Adds the result is exact.
func (c *Counter) Load() int64 {
	s := c.cells()
	var sum int64
	for i := range s.Len() {
		sum += s.Cell(i).Load()
	}
	return sum
}

// Reset sets the counter to 0. Each cell is cleared atomically, but not all
// at once: an Add concurrent with Reset may survive it or not.
func (c *Counter) Reset() {
	s := c.cells()
	for i := range s.Len() {
		s.Cell(i).Store(0)
	}
}

// Swap sets the counter to 0 and returns the value it had. Every Add lands
// either in the returned sum or in the counter afterwards, never both and
// never neither: each cell is swapped atomically.
func (c *Counter) Swap() int64 {
	s := c.cells()
	var sum int64
	for i := range s.Len() {
		sum += s.Cell(i).Swap(0)
	}
	return sum
}
