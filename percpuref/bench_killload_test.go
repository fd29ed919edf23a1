package percpuref_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/internal/killload"
	"github.com/percpuref/percpu/percpuref"
)

// BenchmarkKillLoaded is the latency of Kill on a live Ref that holds
// only its initial reference, each Kill timed on its own, by shard count
// (WithShards 1, 2, 8 and 64, and slots: the default per-P slots), idle
// and under load:
//
//	idle  nothing else runs, as in BenchmarkKill
//	busy  GOMAXPROCS-1 other goroutines (at least one) run Get+Put on Refs
//	      of their own and TryGetLive+Put on the Refs about to be killed,
//	      round the batch of them (see killLoaded): each Ref is touched
//	      before its Kill starts, and during it
//
// ns/op is the mean of the Kills' latencies, p50-ns and p99-ns their
// median and 99th percentile (benchstat shows them as p50-sec and
// p99-sec). atomic is the kref doing the same: its Kill is the owner's
// Put, which releases, and the other goroutines TryGet and Put it; it has
// no shards, and runs under each shards= key so that benchstat -col /impl
// sets it beside every row. -col /load sets idle beside busy. Each Kill is
// timed with two readings of the clock, which costs some tens of ns: that
// is most of atomic's figure. The Refs are made in batches while the
// other goroutines run on, between the timed Kills; B/op and allocs/op
// count the making.
func BenchmarkKillLoaded(b *testing.B) {
	benchkit.Header()
	for _, shards := range []int{1, 2, 8, 64, 0} {
		name := fmt.Sprintf("shards=%d", shards)
		opts := []percpuref.Option{percpuref.Eager()} // a Ref with cells: Kill's barrier is what is measured
		if shards == 0 {
			name = "shards=slots"
		} else {
			opts = append(opts, percpuref.WithShards(shards))
		}
		for _, load := range []string{"idle", "busy"} {
			busy := load == "busy"
			b.Run(name+"/load="+load, func(b *testing.B) {
				b.Run("impl=atomic", func(b *testing.B) {
					killLoaded(b, busy, baseline.NewKref, killload.TouchKref, (*baseline.Kref).Put)
				})
				b.Run("impl=percpuref", func(b *testing.B) {
					killLoaded(b, busy, func(release func()) *percpuref.Ref {
						return percpuref.New(release, opts...)
					}, killload.TouchRef, (*percpuref.Ref).Kill)
				})
			})
		}
	}
}

// killLoaded times b.N calls of kill, each on a new count made by
// newVictim, and reports their mean (as ns/op), median and 99th
// percentile. The counts are made in batches between the timed kills. If
// busy, GOMAXPROCS-1 goroutines (at least one) run, over and over, Get+Put
// on a Ref of their own and touch the next count of the batch, round the
// batch: before a batch's Kills start, each of them has touched every count
// in it, and it goes on touching them, the killed ones too, while they are
// killed (internal/killload, shared with cmd/refbench's killload). A pass
// over a batch takes less time than one Kill of percpuref, so each count is
// touched a few times between two Kills.
func killLoaded[T any](b *testing.B, busy bool, newVictim func(release func()) *T, touch func(*T), kill func(*T)) {
	var released atomic.Int64
	release := func() { released.Add(1) }
	loaders := 0
	if busy {
		loaders = max(1, runtime.GOMAXPROCS(0)-1)
	}
	l := killload.Start(loaders, touch, percpuref.Eager())

	// The benchmark's timer runs throughout, batches and waits included,
	// so that b.N Kills take about -benchtime; StopTimer, which reads the
	// memory statistics (a stop of the world, with the loaders to
	// preempt), would cost more than an atomic Kill at every batch. ns/op
	// is replaced by the Kills' own mean below.
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i += killload.Batch {
		victims := l.Next(min(killload.Batch, b.N-i), newVictim, release)
		for _, v := range victims {
			t := time.Now()
			kill(v)
			lat = append(lat, time.Since(t))
		}
	}
	b.StopTimer()
	l.Stop()
	if got := released.Load(); got != int64(b.N) {
		b.Fatalf("released %d of %d", got, b.N)
	}
	benchkit.ReportLatencies(b, lat)
}
