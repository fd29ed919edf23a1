package percpuref

// When release runs: synchronously, in the goroutine of the Put that takes
// the count to zero; Done closes only when it has returned.

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestReleaseRunsSynchronouslyInThePuttingGoroutine(t *testing.T) {
	var relGoid atomic.Uint64
	var inRelease atomic.Bool
	r := New(func() { relGoid.Store(semGoid()); inRelease.Store(true) }, InitAtomic())
	r.Get()
	done := make(chan uint64)
	go func() {
		r.Put() // not the last
		ok := r.Put()
		// release has returned by the time Put returns
		assert.True(t, ok)
		assert.True(t, inRelease.Load())
		done <- semGoid()
	}()
	putter := <-done
	assert.Equal(t, putter, relGoid.Load())
}

// Kernel edge case `is-zero-during-release` (docs/semantics.md): IsZero is
// true while release runs, and Done, asked for before, stays open until
// release returns; so does the Put that runs it.
func TestDoneClosedOnlyAfterReleaseReturned(t *testing.T) {
	entered := make(chan struct{})
	unblock := make(chan struct{})
	r := New(func() { close(entered); <-unblock })
	done := r.Done()
	r.Get()
	r.Kill()
	assert.False(t, semClosed(done))
	putReturned := make(chan bool)
	go func() { putReturned <- r.Put() }()
	<-entered
	assert.True(t, r.IsZero(), "IsZero is true while release runs")
	assert.False(t, semClosed(done), "Done must not be closed while release runs")
	select {
	case <-putReturned:
		t.Fatal("Put returned while release was still running")
	case <-time.After(5 * time.Millisecond):
	}
	close(unblock)
	assert.True(t, <-putReturned)
	<-done
	assert.Equal(t, done, r.Done(), "same channel within one life")
}

// Kernel edge case `is-zero-during-release` (docs/semantics.md): IsZero can
// be true before release has returned; Done, first asked for while release
// runs, is still open.
func TestIsZeroWhileReleaseRuns(t *testing.T) {
	entered := make(chan struct{})
	unblock := make(chan struct{})
	r := New(func() { close(entered); <-unblock })
	r.Get()
	r.Kill()
	go r.Put()
	<-entered
	assert.True(t, r.IsZero(), "zero while release still runs")
	assert.False(t, semClosed(r.Done()), "Done is the signal that release returned")
	close(unblock)
	<-r.Done()
}
