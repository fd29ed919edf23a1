package percpuref

// KillAsync: each Ref ends as Kill leaves it, misuse included; it returns
// before the switch of a Ref with cells, which a folder goroutine finishes
// for a batch under one membarrier; a release that a folder runs may use
// the queue again; and KillAsync under traffic.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/fastpath"
)

// holdFolds makes every folder wait, as it starts, until the returned
// function is called; started receives once per folder that waits.
func holdFolds(t *testing.T) (started <-chan struct{}, let func()) {
	ch := make(chan struct{}, 64)
	hold := make(chan struct{})
	testHookAsyncFold = func() {
		ch <- struct{}{}
		<-hold
	}
	released := false
	let = func() {
		if !released {
			released = true
			close(hold)
		}
	}
	t.Cleanup(func() {
		let()
		asyncKills.running.Wait()
		testHookAsyncFold = nil
	})
	return ch, let
}

// within waits for ch at most 10 seconds: a folder that was never started
// fails the test rather than hang it.
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
}

// TestKillAsyncLeavesEachRefAsKillDoes: the scene of KillAll's test,
// killed with KillAsync Ref after Ref, ends in the states that Kill leaves,
// with the same releases and misuse reports. Their order differs: a Ref
// with cells is released, and a misuse that its fold finds reported, by a
// folder goroutine.
func TestKillAsyncLeavesEachRefAsKillDoes(t *testing.T) {
	oneByOne, oneByOneEvents, _ := killedScene(t, killEach)
	async, asyncEvents, _ := killedScene(t, func(refs []*Ref) {
		for _, r := range refs {
			r.KillAsync()
		}
	})
	assert.Equal(t, oneByOne, async)
	slices.Sort(oneByOneEvents)
	slices.Sort(asyncEvents)
	assert.Equal(t, oneByOneEvents, asyncEvents)
	assert.Len(t, asyncEvents, 9)
}

// TestKillAsyncReturnsBeforeTheSwitch: while the folder is held back, a Ref
// with cells that KillAsync returned from is dying (TryGetLive fails) and
// counts on its central count, where no Put reaches zero: the Put of the
// last reference but the initial one returns false and releases nothing.
// The folder then drops the initial reference and runs release; Done
// closes; the count is exact. Refs without cells are killed inside
// KillAsync, and the Refs with cells that queued behind one held folder
// share one membarrier, however many (KillAll's batch bound is not its).
func TestKillAsyncReturnsBeforeTheSwitch(t *testing.T) {
	started, let := holdFolds(t)
	var rel semRel
	// Every Ref below is killed while the folder is held, so none may share
	// a stripe with a Ref already queued: its KillAsync would wait for good.
	used := map[uint64]bool{}
	fresh := func(opts ...Option) *Ref {
		for {
			if x := New(rel.fn(), opts...); !used[x.stripe()] {
				used[x.stripe()] = true
				return x
			}
		}
	}
	r := fresh(Eager())
	r.Get() // another holder
	r.KillAsync()
	within(t, started, "a folder starts")

	assert.True(t, r.IsDying())
	assert.False(t, r.IsPercpu(), "switched to atomic mode at once")
	assert.False(t, r.IsZero())
	assert.False(t, r.TryGetLive(), "TryGetLive after KillAsync")
	require.True(t, r.TryGet())
	assert.False(t, r.Put())
	r.Get()
	assert.False(t, r.Put())
	assert.False(t, r.Put(), "the last reference but the initial one: no release before the fold")
	assert.Equal(t, 0, rel.calls())

	lazy := fresh() // never spread: no cells
	lazy.KillAsync()
	assert.Equal(t, 1, rel.calls(), "a Ref without cells is released inside KillAsync")
	atomicRef := fresh(InitAtomic())
	atomicRef.KillAsync()
	assert.Equal(t, 2, rel.calls())

	var more []*Ref // with r, more than KillAll's batch
	for range killAllBatch + 5 {
		m := fresh(Eager())
		m.KillAsync()
		more = append(more, m)
	}
	assert.Equal(t, 2, rel.calls(), "the held folder has folded nothing")
	before := fastpath.Barriers()
	let()
	within(t, r.Done(), "the folder releases r")
	asyncKills.running.Wait()
	assert.Equal(t, 3+len(more), rel.calls())
	assert.True(t, r.IsZero())
	assert.Equal(t, int64(0), r.Read())
	for _, m := range more {
		assert.True(t, m.IsDying() && m.IsZero())
	}
	barriers := fastpath.Barriers() - before
	if strings.HasSuffix(percpu.FastPath(), "+membarrier") {
		assert.Equal(t, uint64(1), barriers, "one membarrier for the %d Refs queued behind the held folder", 1+len(more))
	} else {
		assert.Zero(t, barriers)
	}
}

// TestKillAsyncWaitsInLockedCalls: a call that takes the Ref's lock (Read,
// Done, a second Kill) while the folder is held back waits for the
// switch, and then sees it whole: Read the exact count, the second Kill
// reported as ErrKilled with that count.
func TestKillAsyncWaitsInLockedCalls(t *testing.T) {
	started, let := holdFolds(t)
	var log semLog
	r := New(nil, Eager(), log.option())
	r.GetMany(2)
	r.KillAsync()
	within(t, started, "a folder starts")
	read := make(chan int64)
	go func() { read <- r.Read() }()
	killed := make(chan struct{})
	go func() { r.KillAsync(); close(killed) }()
	select {
	case <-read:
		t.Fatal("Read returned during the switch")
	case <-killed:
		t.Fatal("a second KillAsync returned during the switch")
	case <-time.After(50 * time.Millisecond):
	}
	let()
	assert.Equal(t, int64(2), <-read)
	<-killed
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrKilled, "Kill", 2)
	r.PutMany(2)
	assert.True(t, r.IsZero())
}

// TestKillAsyncThenInit: Init called during the switch waits for it, and
// then judges the state the fold left (release begun), not the one it
// loaded before its lock: Kill then Init is valid, and so is KillAsync then
// Init.
func TestKillAsyncThenInit(t *testing.T) {
	started, let := holdFolds(t)
	var log semLog
	var rel, rel2 semRel
	r := New(rel.fn(), Eager(), log.option())
	r.KillAsync()
	within(t, started, "a folder starts")
	done := make(chan struct{})
	go func() { r.Init(rel2.fn(), log.option()); close(done) }()
	time.Sleep(20 * time.Millisecond) // Init waits in the lock, most runs
	let()
	within(t, done, "Init returns")
	asyncKills.running.Wait()
	assert.Empty(t, log.all())
	assert.Equal(t, 1, rel.calls())
	assert.Equal(t, int64(1), r.Read(), "a new life")
	r.Kill()
	assert.Equal(t, 1, rel2.calls())
}

// TestKillAsyncReleaseMayUseTheQueue: a folder hands the queue on before it
// runs user code. A release that a folder runs kills another Ref on the
// same lock stripe while a third Ref, queued after the folder's take,
// holds that stripe: the third must be folded by a folder that add starts
// (the first has handed on), or the release waits for good. Every Ref is on
// one stripe here.
func TestKillAsyncReleaseMayUseTheQueue(t *testing.T) {
	OneLockStripe(t)
	var rel semRel
	third := New(rel.fn(), Eager())
	other := New(rel.fn(), Eager())
	queued := make(chan struct{})
	running := make(chan struct{})
	first := New(func() {
		close(running)
		<-queued          // third holds the stripe, queued behind this folder
		other.KillAsync() // waits for the stripe
		other.Read()
		rel.n.Add(1)
	}, Eager())
	MustFinish(t, 10*time.Second, "a release that kills on a stripe a queued Ref holds", func() {
		first.KillAsync()
		<-running
		third.KillAsync()
		close(queued)
		asyncKills.running.Wait()
	})
	assert.Equal(t, 3, rel.calls())
	for _, r := range []*Ref{first, other, third} {
		assert.True(t, r.IsZero())
	}
}

// TestKillAsyncHandsOn: a Ref added while a folder folds, after its take,
// is folded by the folder that the first one starts as it hands on (add
// starts none: the first is still folding). Without the hand-on its
// KillAsync is lost, and it is never released.
func TestKillAsyncHandsOn(t *testing.T) {
	var rel semRel
	first := New(rel.fn(), Eager())
	second := New(rel.fn(), Eager())
	folded := make(chan struct{})
	cont := make(chan struct{})
	testHookAsyncFolded = func() {
		testHookAsyncFolded = nil // the next folder does not stop
		close(folded)
		<-cont
	}
	t.Cleanup(func() { testHookAsyncFolded = nil })
	MustFinish(t, 10*time.Second, "a Ref added during a fold", func() {
		first.KillAsync()
		<-folded // first is folded and unlocked; its folder has not looked at the queue
		second.KillAsync()
		close(cont)
		<-second.Done()
		asyncKills.running.Wait()
	})
	assert.Equal(t, 2, rel.calls())
}

// TestKillAsyncUnderTraffic: KillAllUnderTraffic's Refs and traffic, each
// Ref killed with KillAsync by one or two goroutines.
func TestKillAsyncUnderTraffic(t *testing.T) {
	killUnderTraffic(t, func(refs []*Ref) {
		for _, r := range refs {
			r.KillAsync()
		}
	})
}

// TestKillAsyncOnOneLockStripe: KillAsync with every Ref on one lock
// stripe, so that each waits for the one before it to be folded, while
// another goroutine Reads, KillAsyncs and asks for Done of Refs on the same
// stripe: nothing deadlocks, every Ref is released once.
func TestKillAsyncOnOneLockStripe(t *testing.T) {
	killOnOneStripe(t, 100, func(refs []*Ref) {
		for _, r := range refs {
			r.KillAsync()
		}
	}, (*Ref).KillAsync)
}
