// Package killload is the load under which Kill is timed, shared by
// percpuref's BenchmarkKillLoaded and cmd/refbench's killload workload:
// loaders, goroutines that run Get+Put on Refs of their own and touch the
// counts of the batch about to be killed, round the batch. Each caller
// makes its counts, times its Kills and reports them itself; this package
// only runs the loaders and hands them the batches.
package killload

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/percpuref"
)

// Batch is how many counts are made, untimed, before a timed run of
// Kills. A loader's pass over a batch takes less time than one Kill of
// percpuref, so each count is touched a few times between two Kills.
const Batch = 64

// Loaders is a running set of loaders of counts of type *T.
type Loaders[T any] struct {
	cur  atomic.Pointer[[]*T] // the batch being killed
	stop atomic.Bool
	wg   sync.WaitGroup
	// seen[i] is the last batch loader i went all round, on a line of its
	// own.
	seen []struct {
		_ [percpu.CacheLinePad]byte
		p atomic.Pointer[[]*T]
		_ [percpu.CacheLinePad]byte
	}
}

// Start starts n loaders (none if n is 0). Each runs, over and over,
// Get+Put on a Ref of its own, made with opts, and, once a batch is
// published, touch on each count of it, round the batch, the killed ones
// too, until Stop.
func Start[T any](n int, touch func(*T), opts ...percpuref.Option) *Loaders[T] {
	l := new(Loaders[T])
	l.seen = make([]struct {
		_ [percpu.CacheLinePad]byte
		p atomic.Pointer[[]*T]
		_ [percpu.CacheLinePad]byte
	}, n)
	for i := range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			own := baseline.NewPaddedRef(nil, opts...)
			for !l.stop.Load() {
				p := l.cur.Load()
				if p == nil {
					own.Get()
					own.Put()
					continue
				}
				for _, v := range *p {
					own.Get()
					own.Put()
					touch(v)
				}
				l.seen[i].p.Store(p)
			}
			own.Kill()
		}()
	}
	return l
}

// Next makes a batch of n counts, each by newVictim(release), hands it to
// the loaders and returns it once each of them has touched every count in
// it.
func (l *Loaders[T]) Next(n int, newVictim func(release func()) *T, release func()) []*T {
	victims := make([]*T, n)
	for j := range victims {
		victims[j] = newVictim(release)
	}
	l.cur.Store(&victims)
	for k := range l.seen {
		for l.seen[k].p.Load() != &victims {
			runtime.Gosched()
		}
	}
	return victims
}

// Stop stops the loaders and waits for them to return.
func (l *Loaders[T]) Stop() {
	l.stop.Store(true)
	l.wg.Wait()
}

// TouchRef is the loaders' touch of a percpuref.Ref: TryGetLive and, if it
// succeeds, Put.
func TouchRef(r *percpuref.Ref) {
	if r.TryGetLive() {
		r.Put()
	}
}

// TouchKref is the loaders' touch of a kref: TryGet and, if it succeeds,
// Put.
func TouchKref(k *baseline.Kref) {
	if k.TryGet() {
		k.Put()
	}
}
