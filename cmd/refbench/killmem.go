package main

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/percpuref/percpu/percpuref"
	"github.com/percpuref/percpu/shard"
)

// memoryRefs are the numbers of live objects the memory workload holds.
var memoryRefs = []int{1, 100_000}

// memoryImpls are the implementations the memory workload measures; cas
// and rwmutex are left out (cas is one word, as atomic is).
var memoryImpls = []string{iPercpuref, iAtomic, iXsync}

// killBatch is how many Refs are made, untimed, before a timed run of
// Kills.
const killBatch = 256

var errNotReleased = errors.New("a Ref that held only its initial reference was not released by Kill")

// killLatency returns the mean time of Kill, in ns, on live Refs of the
// given number of shards that hold only their initial reference, so that
// each Kill folds the shards, switches to atomic mode and releases. Refs
// are made outside the timed part, in batches, for about d of timed Kills
// (and at most 2d of wall time).
func killLatency(shards int, d time.Duration) (float64, error) {
	refs := make([]*percpuref.Ref, killBatch)
	var released atomic.Int64
	release := func() { released.Add(1) }
	var timed time.Duration
	kills := 0
	wall := time.Now()
	for kills == 0 || (timed < d && time.Since(wall) < 2*d) {
		for i := range refs {
			refs[i] = percpuref.New(release, percpuref.WithShards(shards))
		}
		t := time.Now()
		for _, r := range refs {
			r.Kill()
		}
		timed += time.Since(t)
		kills += len(refs)
	}
	if released.Load() != int64(kills) {
		return 0, errNotReleased
	}
	return float64(timed.Nanoseconds()) / float64(kills), nil
}

// settle collects garbage until the heap stops shrinking (at most a few
// cycles: sync.Pool victims and objects freed by the previous measurement
// take more than one), then reads the memory statistics into m.
func settle(m *runtime.MemStats) {
	prev := uint64(0)
	for range 5 {
		runtime.GC()
		runtime.ReadMemStats(m)
		if m.HeapAlloc == prev {
			return
		}
		prev = m.HeapAlloc
	}
}

// bytesPerRef returns the growth of the heap (HeapAlloc after a GC) per
// object when n objects of impl are made and kept live. The slice holding
// them is allocated before the first reading, so it is not counted. It
// also returns the shards of a percpuref.Ref (0 for the others).
func bytesPerRef(impl string, n int) (float64, int) {
	var before, after runtime.MemStats
	shards := 0
	keep := make([]any, n)
	settle(&before)
	switch impl {
	case iPercpuref:
		for i := range keep {
			keep[i] = percpuref.New(nil)
		}
		shards = shard.DefaultCells()
	case iAtomic:
		for i := range keep {
			keep[i] = new(atomic.Int64)
		}
	case iXsync:
		for i := range keep {
			keep[i] = xsync.NewCounter()
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n), shards
}
