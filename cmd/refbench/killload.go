package main

import (
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/killload"
	"github.com/percpuref/percpu/percpuref"
)

// The killload workload times Kill under load: GOMAXPROCS-1 goroutines (at
// least one), the loaders, run Get+Put on Refs of their own and touch the
// counts about to be killed, while this goroutine kills them one by one,
// timing each Kill on its own. It is percpuref's BenchmarkKillLoaded, for
// about a duration instead of b.N Kills.

// killLoads maps each implementation of killload to its measurement at a
// shard count (which atomic ignores) for about d.
var killLoads = map[string]func(shards int, d time.Duration) (sample, error){
	iPercpuref: func(shards int, d time.Duration) (sample, error) {
		opts := shardOpts(shards)
		return killLoad(d, func(release func()) *percpuref.Ref {
			return percpuref.New(release, opts...)
		}, killload.TouchRef, (*percpuref.Ref).Kill)
	},
	iAtomic: func(_ int, d time.Duration) (sample, error) {
		return killLoad(d, baseline.NewKref, killload.TouchKref, (*baseline.Kref).Put)
	},
}

// killLoadImpls are the implementations of killload, in report order.
var killLoadImpls = []string{iPercpuref, iAtomic}

// killLoad kills counts made by newVictim, each holding only its initial
// reference, in batches of killload.Batch, for about d of timed kills (and
// at most 2d of wall time), and returns the mean, median and 99th
// percentile of their latencies. The loaders (internal/killload) go round
// the batch being killed: before its first kill, each of them has touched
// every count in it, and it goes on touching them, the killed ones too,
// while they are killed.
func killLoad[T any](d time.Duration, newVictim func(release func()) *T, touch func(*T), kill func(*T)) (sample, error) {
	var released atomic.Int64
	release := func() { released.Add(1) }
	l := killload.Start(max(1, runtime.GOMAXPROCS(0)-1), touch)

	runtime.GC()
	var (
		lat   []time.Duration
		timed time.Duration
	)
	wall := time.Now()
	for len(lat) == 0 || (timed < d && time.Since(wall) < 2*d) {
		victims := l.Next(killload.Batch, newVictim, release)
		for _, v := range victims {
			t := time.Now()
			kill(v)
			dt := time.Since(t)
			lat = append(lat, dt)
			timed += dt
		}
	}
	l.Stop()
	if released.Load() != int64(len(lat)) {
		return sample{}, errNotReleased
	}
	slices.Sort(lat)
	return sample{
		ops:     int64(len(lat)),
		nsPerOp: float64(timed.Nanoseconds()) / float64(len(lat)),
		p50:     float64(lat[len(lat)/2].Nanoseconds()),
		p99:     float64(lat[len(lat)*99/100].Nanoseconds()),
	}, nil
}
