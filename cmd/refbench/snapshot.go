package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/percpuref"
)

// The snapshot workload is read-mostly: readers take a reference to the
// current object, read it and drop the reference, while one writer
// goroutine replaces the object every writerInterval, then waits until
// every reference to the old one has been dropped. One operation is one
// successful read; a reader that finds the object dying retries.
const writerInterval = 2 * time.Millisecond

// releaseTimeout bounds the writer's wait for an old object's release.
const releaseTimeout = 10 * time.Second

var errNoRelease = errors.New("an old object was not released in time")

// writer runs replace every writerInterval until quit is closed, and
// reports the first error.
type writer struct {
	quit chan struct{}
	done chan error
}

func startWriter(replace func(v int64) error) *writer {
	w := &writer{quit: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		t := time.NewTicker(writerInterval)
		defer t.Stop()
		for v := int64(1); ; v++ {
			select {
			case <-w.quit:
				w.done <- nil
				return
			case <-t.C:
			}
			if err := replace(v); err != nil {
				w.done <- err
				return
			}
		}
	}()
	return w
}

func (w *writer) stop() error {
	close(w.quit)
	return <-w.done
}

func waitClosed(c <-chan struct{}) error {
	select {
	case <-c:
		return nil
	case <-time.After(releaseTimeout):
		return errNoRelease
	}
}

// refObj is the object of the rwmutex variant.
type refObj struct {
	val int64
}

// snapVal is a value of the percpuref variant: its release closes done,
// which the writer waits for.
type snapVal struct {
	val  int64
	done chan struct{}
}

func newSnapVal(v int64) *snapVal { return &snapVal{val: v, done: make(chan struct{})} }

// snapshotRef is the workload on percpuref.Shared: readers Acquire a lease
// on the current value, the writer Swaps and waits for the old value's
// release.
func snapshotRef() job {
	cur := newSnapVal(0)
	s := percpuref.NewShared(cur, func(v *snapVal) { close(v.done) })
	w := startWriter(func(v int64) error {
		old := cur
		cur = newSnapVal(v)
		s.Swap(cur)
		return waitClosed(old.done)
	})
	return job{
		op: func(n int) {
			var sum int64
			for range n {
				l, ok := s.Acquire()
				if !ok {
					panic("refbench: Acquire on a Shared that is still open failed")
				}
				sum += l.Value().val
				l.Release()
			}
			sink.Add(sum)
		},
		stop: func() error {
			err := w.stop()
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			defer cancel()
			return errors.Join(err, s.Close(ctx))
		},
	}
}

type atomicObj struct {
	val  int64
	n    baseline.PaddedInt64
	done chan struct{}
}

func newAtomicObj(v int64) *atomicObj {
	o := &atomicObj{val: v, done: make(chan struct{})}
	o.n.Store(1)
	return o
}

func (o *atomicObj) put() {
	if o.n.Put() {
		close(o.done)
	}
}

func snapshotAtomic() job {
	var cur atomic.Pointer[atomicObj]
	cur.Store(newAtomicObj(0))
	w := startWriter(func(v int64) error {
		old := cur.Swap(newAtomicObj(v))
		old.put()
		return waitClosed(old.done)
	})
	return job{
		op: func(n int) {
			var s int64
			for range n {
				for {
					p := cur.Load()
					if p.n.TryGet() {
						s += p.val
						p.put()
						break
					}
				}
			}
			sink.Add(s)
		},
		stop: func() error {
			err := w.stop()
			last := cur.Load()
			last.put()
			return errors.Join(err, waitClosed(last.done))
		},
	}
}

func snapshotRWMutex() job {
	var mu sync.RWMutex
	cur := &refObj{}
	w := startWriter(func(v int64) error {
		next := &refObj{val: v}
		mu.Lock() // once held, no reader holds the old object
		cur = next
		mu.Unlock()
		return nil
	})
	return job{
		op: func(n int) {
			var s int64
			for range n {
				mu.RLock()
				s += cur.val
				mu.RUnlock()
			}
			sink.Add(s)
		},
		stop: w.stop,
	}
}
