// Package baseline holds the plain reference count that the benchmarks and
// cmd/refbench measure percpuref against: one atomic.Int64 on a cache line
// of its own, with the kref operations on it.
package baseline

import (
	"sync/atomic"

	"github.com/percpuref/percpu"
)

// PaddedInt64 is an atomic.Int64 with a cache-line pad on either side, so
// that a baseline pays for true sharing of its one word and never for false
// sharing with a neighbour.
type PaddedInt64 struct {
	_ [percpu.CacheLinePad]byte
	atomic.Int64
	_ [percpu.CacheLinePad - 8]byte
}

// TryGet is kref_get_unless_zero: a compare-and-swap loop that adds one
// unless the count is zero, and reports whether it did.
func (c *PaddedInt64) TryGet() bool {
	for {
		v := c.Load()
		if v == 0 {
			return false
		}
		if c.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// Put is kref_put: it drops one and reports whether that was the last.
func (c *PaddedInt64) Put() bool { return c.Add(-1) == 0 }
