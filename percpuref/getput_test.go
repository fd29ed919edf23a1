package percpuref

// Get, Put and their Many forms: what they count in each mode, and when a
// Put releases.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetPutPercpuNeverReleases(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	for i := 0; i < 100; i++ {
		r.Get()
	}
	r.GetMany(50)
	assert.Equal(t, int64(151), r.Read())
	for i := 0; i < 100; i++ {
		assert.False(t, r.Put())
	}
	assert.False(t, r.PutMany(50))
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.IsPercpu())
	assert.Equal(t, 0, rel.calls())
}

// Per-CPU mode: Put never releases, so it always returns false.
func TestPutPercpuReturnsFalse(t *testing.T) {
	var rel semRel
	var mu sync.Mutex
	r := New(rel.fn())
	r.GetMany(10)
	assert.False(t, r.Put(), "Put in per-CPU mode")
	assert.False(t, r.PutMany(2), "PutMany in per-CPU mode")
	assert.False(t, r.PutLocked(&mu), "PutLocked in per-CPU mode")
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(7), r.Read())
	assert.Equal(t, 0, rel.calls())
}

func TestGetPutAtomicReleasesAtExactlyZero(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitAtomic())
	r.Get()
	r.GetMany(3)
	assert.Equal(t, int64(5), r.Read())
	assert.False(t, r.PutMany(3))
	assert.Equal(t, int64(2), r.Read())
	assert.False(t, r.Put())
	assert.Equal(t, 0, rel.calls())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
	assert.True(t, r.IsZero())
}

func TestPutManyCrossingToZeroReleases(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitAtomic())
	r.GetMany(4)
	assert.True(t, r.PutMany(5))
	assert.Equal(t, 1, rel.calls())
	assert.Equal(t, int64(0), r.Read())
}

func TestGetPutDyingReleasesAtExactlyZero(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	r.GetMany(2)
	r.Get()
	r.Kill()
	assert.Equal(t, int64(3), r.Read())
	r.Get() // a holder may still take more in dying mode
	assert.Equal(t, int64(4), r.Read())
	assert.False(t, r.PutMany(2))
	assert.False(t, r.Put())
	assert.Equal(t, 0, rel.calls())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
}

// Kernel edge case `init-atomic-put-releases` (docs/semantics.md): on an
// InitAtomic Ref, the Put of the initial reference (no Kill) releases
// synchronously in that Put.
func TestInitAtomicLastPutReleasesInThatPut(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitAtomic())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls(), "release has returned when Put returns")
	assert.True(t, semClosed(r.Done()))
	assert.False(t, r.IsDying(), "released without being killed")
}

// Kernel edge case `cells-drift` (docs/semantics.md): Gets on one cell and
// Puts on another drive single cells apart (and, far enough, out of the
// live range); the fold still gives the exact count, with no early release
// and no misuse report.
func TestGetsAndPutsOnDifferentCellsFoldExactly(t *testing.T) {
	t.Run("two-Ps", func(t *testing.T) {
		// Two goroutines spinning at once on two Ps use two different cells.
		// White-box: the cells are inspected to show they diverged.
		procs := runtime.GOMAXPROCS(0)
		if procs < 2 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
			procs = 2
		}
		diverged := false
		for attempt := 0; attempt < 50 && !diverged; attempt++ {
			var log semLog
			var rel semRel
			r := New(rel.fn(), WithShards(procs), log.option())
			const k = 20000
			var avail atomic.Int64
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; i < k; i++ {
					r.Get()
					avail.Add(1)
				}
			}()
			go func() {
				defer wg.Done()
				for put := 0; put < k; {
					if avail.Load() > 0 {
						avail.Add(-1)
						r.Put()
						put++
					}
				}
			}()
			wg.Wait()
			pos, neg := false, false
			for i := 0; i < r.cells.Len(); i++ {
				v := r.cells.Cell(i).Load()
				pos = pos || v > 0
				neg = neg || v < 0
			}
			diverged = pos && neg
			require.Equal(t, int64(1), r.Read())
			require.Equal(t, 0, rel.calls())
			r.Kill()
			require.Equal(t, 1, rel.calls())
			require.Empty(t, log.all())
		}
		assert.True(t, diverged, "never saw Gets and Puts land on different cells")
	})
	t.Run("drift-past-live-range", func(t *testing.T) {
		// With one shard, enough GetMany(MaxDelta) calls take the cell past
		// the live range (liveLimit) so the drift fold runs; then the same
		// in Puts, down past -liveLimit.
		var log semLog
		var rel semRel
		r := New(rel.fn(), WithShards(1), log.option())
		const rounds = liveLimit/MaxDelta + 2
		for i := 0; i < rounds; i++ {
			r.GetMany(MaxDelta)
		}
		assert.Equal(t, int64(1+rounds*MaxDelta), r.Read())
		assert.Greater(t, r.count.Load()-bias, int64(1), "white-box: a drifting cell was folded into the central count")
		for i := 0; i < rounds; i++ {
			r.PutMany(MaxDelta)
		}
		assert.Equal(t, int64(1), r.Read())
		for i := 0; i < rounds; i++ { // now the other way: Puts first
			r.PutMany(MaxDelta)
			r.GetMany(MaxDelta)
		}
		assert.Equal(t, int64(1), r.Read())
		assert.Equal(t, 0, rel.calls())
		r.Kill()
		assert.Equal(t, 1, rel.calls())
		assert.Empty(t, log.all())
	})
}

// Kernel edge case `put-once` (docs/semantics.md): of concurrent Puts, the
// one that drops the last reference returns true and runs release, in its
// own goroutine; in atomic mode as after Kill.
func TestPutReturnsTrueExactlyOnceAcrossConcurrentPutters(t *testing.T) {
	for _, mode := range []string{"percpu-then-kill", "atomic"} {
		t.Run(mode, func(t *testing.T) {
			const n = 64
			var rel semRel
			var relGoid atomic.Uint64
			opts := []Option{}
			if mode == "atomic" {
				opts = append(opts, InitAtomic())
			}
			r := New(func() { rel.n.Add(1); relGoid.Store(semGoid()) }, opts...)
			r.GetMany(n)
			if mode != "atomic" {
				r.Kill()
			} else {
				r.Put() // drop the initial ref
			}
			var trues atomic.Int32
			var winner atomic.Uint64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					if r.Put() {
						trues.Add(1)
						winner.Store(semGoid())
					}
				}()
			}
			close(start)
			wg.Wait()
			assert.Equal(t, int32(1), trues.Load())
			assert.Equal(t, 1, rel.calls())
			assert.Equal(t, winner.Load(), relGoid.Load(), "release ran in the goroutine whose Put returned true")
		})
	}
}
