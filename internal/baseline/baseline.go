// Package baseline holds the plain reference count that the benchmarks and
// cmd/refbench measure percpuref against: one atomic.Int64 on a cache line
// of its own, with the kref operations on it; and NewPaddedRef, which gives
// the Refs they measure lines of their own too.
package baseline

import (
	"sync/atomic"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/percpuref"
)

// paddedRef is a Ref with a cache-line pad on either side.
type paddedRef struct {
	_ [percpu.CacheLinePad]byte
	percpuref.Ref
	_ [percpu.CacheLinePad]byte
}

// NewPaddedRef is percpuref.New(release, opts...) for a Ref on cache lines
// of its own, as PaddedInt64 is. A Ref made with New is 32 bytes, and the
// rest of its 64-byte line belongs to whatever the allocator put beside it:
// testing.PB, which b.RunParallel's goroutines write on every Next, is also
// 32 bytes and lands there by chance. A Ref whose line another core writes
// misses on every Get and Put, as any read-mostly field would (percpuref's
// BenchmarkNeighbour measures it); the throughput measurements are of the
// Ref, not of its neighbour.
func NewPaddedRef(release func(), opts ...percpuref.Option) *percpuref.Ref {
	p := new(paddedRef)
	p.Init(release, opts...)
	return &p.Ref
}

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

// Kref is the reference count a kref user embeds in an object: one
// atomic.Int64 and the release it runs at zero (16 bytes). The memory and
// lifecycle measurements compare a Ref's cost against it.
type Kref struct {
	n       atomic.Int64
	release func()
}

// NewKref returns a Kref holding one reference. It is not inlined, so that
// its Kref is on the heap, as a user's object with a reference count is.
//
//go:noinline
func NewKref(release func()) *Kref {
	k := &Kref{release: release}
	k.n.Store(1)
	return k
}

// Get is kref_get: the caller already holds a reference.
func (k *Kref) Get() { k.n.Add(1) }

// TryGet is kref_get_unless_zero: a compare-and-swap loop that takes a
// reference unless the count is zero, and reports whether it did.
func (k *Kref) TryGet() bool {
	for {
		v := k.n.Load()
		if v == 0 {
			return false
		}
		if k.n.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// Put drops a reference and runs release on the last.
func (k *Kref) Put() {
	if k.n.Add(-1) == 0 {
		k.release()
	}
}
