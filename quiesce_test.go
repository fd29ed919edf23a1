package percpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Barriers returns how many membarriers quiesce has issued in this process
// (0 in the generic build, whose quiesce makes none), for the Ref tests of
// quiesce_ref_test.go. percpuref's BenchmarkKillConcurrent reads the same
// count through fastpath.Barriers.
func Barriers() uint64 { return barriers() }

func TestBarrierSnapshot(t *testing.T) {
	var s coalescedBarrier
	for _, c := range []struct{ seq, snap uint64 }{
		{0, 2}, // idle: the end of the next barrier
		{1, 4}, // one in progress: the end of the one after it
		{2, 4},
		{7, 10},
		{1<<64 - 2, 0}, // wrapping: the next barrier ends at 0
		{1<<64 - 1, 2},
	} {
		s.seq.Store(c.seq)
		assert.Equal(t, c.snap, s.snap(), "snap at seq %d", c.seq)
		assert.False(t, seqDone(c.seq, c.snap), "a fresh snapshot is never done (seq %d)", c.seq)
		assert.True(t, seqDone(c.snap, c.snap))
		assert.True(t, seqDone(c.snap+2, c.snap), "done past the snapshot, across the wrap too")
	}
}

// countingBarrier returns a coalescedBarrier whose barrier counts itself into
// n, calls before (if not nil), and then runs the process's real one
// (which does nothing in the generic build) where membarrier is
// registered, so that the tests below make the system call where they can.
func countingBarrier(n *atomic.Int64, before func()) *coalescedBarrier {
	return &coalescedBarrier{run: func() {
		n.Add(1)
		if before != nil {
			before()
		}
		if barrierStatus() == "" {
			barrier()
		}
	}}
}

// TestBarrierCoalesced: callers whose snapshots are taken while a barrier is in
// progress all need the next one, and one barrier serves them all; a caller
// whose snapshot an earlier barrier already satisfies issues none.
func TestBarrierCoalesced(t *testing.T) {
	const followers = 8
	var n atomic.Int64
	inside, resume := make(chan struct{}), make(chan struct{})
	first := true
	s := countingBarrier(&n, func() {
		if first { // only mu's holder gets here
			first = false
			close(inside)
			<-resume
		}
	})

	// A caller that snapshots while the barrier is idle, before any runs.
	early := s.snap()

	leader := make(chan struct{})
	go func() { s.wait(); close(leader) }()
	<-inside // the leader's barrier runs: seq is odd

	var wg sync.WaitGroup
	for i := 0; i < followers; i++ {
		snap := s.snap() // taken during the leader's barrier, as a follower's would be
		require.Equal(t, uint64(4), snap, "a barrier in progress serves no later snapshot")
		wg.Add(1)
		go func() { defer wg.Done(); s.waitFor(snap) }()
	}
	close(resume)
	<-leader
	wg.Wait()
	assert.Equal(t, int64(2), n.Load(), "%d followers waiting together share one barrier", followers)
	assert.Equal(t, uint64(2), s.barriers())
	assert.Equal(t, uint64(4), s.seq.Load())

	s.waitFor(early) // the leader's barrier began after it
	s.waitFor(4)
	assert.Equal(t, int64(2), n.Load(), "a caller whose snapshot is satisfied issues no barrier")
	s.wait()
	assert.Equal(t, int64(3), n.Load(), "a caller alone issues its own")
}

// TestBarrierServesAfterCall has many goroutines call wait at once, on a
// barrier that yields in the middle (so that callers arrive while one is in
// progress), with GOMAXPROCS changing meanwhile. Each caller notes how many
// barriers had begun when it called; when it returns, one that began later
// must have ended: the property the exclusive protocol needs. Fewer barriers
// run than calls are made.
func TestBarrierServesAfterCall(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var began, ended atomic.Uint64 // barriers begun; the number of the last that ended
	var n atomic.Int64
	s := countingBarrier(&n, nil)
	run := s.run
	s.run = func() {
		k := began.Add(1)
		for i := 0; i < 3; i++ {
			runtime.Gosched()
		}
		run()
		ended.Store(k) // barriers never overlap: mu
	}

	const goroutines, calls = 16, 300
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				runtime.GOMAXPROCS(1 + i%4)
			}
		}
	}()
	var bad atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < calls; i++ {
				mark := began.Load() // after the caller's "state store"
				s.wait()
				if ended.Load() <= mark {
					bad.Add(1)
				}
				if i%3 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	require.Zero(t, bad.Load(), "a call returned before a barrier that began after it ended")
	total := int64(goroutines * calls)
	assert.Equal(t, n.Load(), int64(began.Load()))
	assert.Less(t, n.Load(), total, "concurrent callers share barriers")
	t.Logf("%d calls, %d barriers", total, n.Load())
}

// TestQuiesceCounts: the process's quiesce issues at most one barrier per
// call, one exactly when called alone, and none in the generic build.
func TestQuiesceCounts(t *testing.T) {
	if why := barrierStatus(); why != "" {
		t.Skip(why)
	}
	before := Barriers()
	quiesce()
	want := uint64(0)
	if asmPath {
		want = 1
	}
	assert.Equal(t, want, Barriers()-before)

	const callers = 8
	before = Barriers()
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); quiesce() }()
	}
	wg.Wait()
	got := Barriers() - before
	assert.LessOrEqual(t, got, uint64(callers))
	if asmPath {
		assert.GreaterOrEqual(t, got, uint64(1))
	}
	t.Logf("%d concurrent quiesce calls: %d barriers", callers, got)
}
