package shard

import (
	"sync/atomic"
)

// A Counter is a 64-bit counter striped over per-P cells. Add touches only
// the caller's cell, so concurrent Adds from different cores do not contend;
// Load pays instead, summing every cell.
//
// The zero Counter is ready to use; it allocates its cells (DefaultCells of
// them) on first use. A Counter must not be copied after first use.
type Counter struct {
	set atomic.Pointer[Set]
}

// NewCounter returns a Counter with n cells (see NewSet); n <= 0 means
// DefaultCells.
func NewCounter(n int) *Counter {
	if n <= 0 {
		n = DefaultCells()
	}
	c := new(Counter)
	c.set.Store(NewSet(n))
	return c
}

func (c *Counter) cells() *Set {
	if s := c.set.Load(); s != nil {
		return s
	}
	c.set.CompareAndSwap(nil, NewSet(DefaultCells()))
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
	for i := range s.cells {
		sum += s.cells[i].Load()
	}
	return sum
}

// Reset sets the counter to 0. Each cell is cleared atomically, but not all
// at once: an Add concurrent with Reset may survive it or not.
func (c *Counter) Reset() {
	s := c.cells()
	for i := range s.cells {
		s.cells[i].Store(0)
	}
}

// Swap sets the counter to 0 and returns the value it had. Every Add lands
// either in the returned sum or in the counter afterwards, never both and
// never neither: each cell is swapped atomically.
func (c *Counter) Swap() int64 {
	s := c.cells()
	var sum int64
	for i := range s.cells {
		sum += s.cells[i].Swap(0)
	}
	return sum
}
