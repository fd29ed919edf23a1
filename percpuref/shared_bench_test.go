package percpuref

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percpuref/percpu/internal/cpumeter"
)

// benchValue is what every variant shares: a small struct, released by
// nothing (the cost measured is the reader's, not the release's).
type benchValue struct{ n int }

// benchSink keeps the readers' loads from being optimised away.
var benchSink atomic.Int64

// readWhileSwapping runs read in b.RunParallel, timed and with its CPU
// time metered (cpumeter.Meter), while a writer calls swap once a millisecond,
// and stops the writer after it.
func readWhileSwapping(b *testing.B, swap func(i int), read func(pb *testing.PB)) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go swapEveryMs(stop, &wg, swap)
	var cpu cpumeter.Meter
	b.ResetTimer()
	cpu.Begin()
	b.RunParallel(read)
	b.StopTimer()
	cpu.End(b)
	close(stop)
	wg.Wait()
}

// swapEveryMs runs swap once a millisecond until stop is closed.
func swapEveryMs(stop <-chan struct{}, wg *sync.WaitGroup, swap func(i int)) {
	defer wg.Done()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for i := 1; ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
			swap(i)
		}
	}
}

// rcBox is the usual hand-written alternative: an atomic.Pointer to a box
// holding the value and an atomic.Int64 refcount, taken with an
// increment-unless-zero CAS loop. The writer's reference is the initial 1.
type rcBox struct {
	refs atomic.Int64
	v    benchValue
}

func (b *rcBox) tryGet() bool {
	for {
		c := b.refs.Load()
		if c == 0 {
			return false
		}
		if b.refs.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

func (b *rcBox) put() {
	if b.refs.Add(-1) == 0 {
		b.v = benchValue{} // the release
	}
}

// BenchmarkShared measures a reader's Acquire, Value and Release on a
// shared value, in b.RunParallel (GOMAXPROCS readers), while one writer
// swaps in a new value every millisecond:
//
//   - Shared: this package's Shared[T].
//   - AtomicRefcount: atomic.Pointer to a box with an atomic.Int64 refcount
//     (increment unless zero); every reader writes the same count word.
//   - RWMutex: a value under sync.RWMutex, read with RLock/RUnlock (which
//     also writes a shared reader count).
//
// Each reports cpu-ns/op besides ns/op (see cpumeter.Meter).
func BenchmarkShared(b *testing.B) {
	b.Run("Shared", func(b *testing.B) {
		s := NewShared(benchValue{0}, nil)
		readWhileSwapping(b, func(i int) { s.Swap(benchValue{i}) }, func(pb *testing.PB) {
			var sum int
			for pb.Next() {
				l, ok := s.Acquire()
				if !ok {
					b.Error("Acquire failed")
					return
				}
				sum += l.Value().n
				l.Release()
			}
			benchSink.Add(int64(sum))
		})
		if err := s.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	})

	b.Run("AtomicRefcount", func(b *testing.B) {
		var cur atomic.Pointer[rcBox]
		first := &rcBox{}
		first.refs.Store(1)
		cur.Store(first)
		swap := func(i int) {
			n := &rcBox{v: benchValue{i}}
			n.refs.Store(1)
			cur.Swap(n).put() // drop the writer's reference to the old box
		}
		readWhileSwapping(b, swap, func(pb *testing.PB) {
			var sum int
			for pb.Next() {
				var box *rcBox
				for {
					box = cur.Load()
					if box.tryGet() {
						break
					}
				}
				sum += box.v.n
				box.put()
			}
			benchSink.Add(int64(sum))
		})
	})

	b.Run("RWMutex", func(b *testing.B) {
		var mu sync.RWMutex
		v := benchValue{0}
		swap := func(i int) {
			mu.Lock()
			v = benchValue{i} // no reader holds the old value: release it here
			mu.Unlock()
		}
		readWhileSwapping(b, swap, func(pb *testing.PB) {
			var sum int
			for pb.Next() {
				mu.RLock()
				sum += v.n
				mu.RUnlock()
			}
			benchSink.Add(int64(sum))
		})
	})
}
