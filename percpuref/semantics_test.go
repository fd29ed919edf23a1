package percpuref

// Semantic tests: one focused test per rule of the contract (the doc
// comments and docs/semantics.md). The tests
// use the public API only, except where a comment says otherwise. Helpers
// shared by semantics_test.go, edgecases_test.go and misuse_test.go are at
// the top of this file and carry a "sem" prefix so they do not collide with
// other test files of the package.

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------------------
// helpers

// semGoid returns the id of the calling goroutine, parsed from its stack
// header ("goroutine 123 [running]:").
func semGoid() uint64 {
	var b [64]byte
	n := runtime.Stack(b[:], false)
	f := bytes.Fields(b[:n])
	id, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// semCatch runs f and returns the *MisuseError it panicked with, or nil if
// it did not panic. A panic with anything else is re-raised.
func semCatch(f func()) (me *MisuseError) {
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(*MisuseError)
			if !ok {
				panic(p)
			}
			me = e
		}
	}()
	f()
	return nil
}

// semLog collects what a misuse handler receives.
type semLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *semLog) handle(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *semLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

func (l *semLog) option() Option { return WithMisuseHandler(l.handle) }

// semRel counts release calls.
type semRel struct{ n atomic.Int32 }

func (c *semRel) fn() func() { return func() { c.n.Add(1) } }
func (c *semRel) calls() int { return int(c.n.Load()) }

// semClosed reports whether ch is closed (without blocking).
func semClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// semRequireMisuse asserts that err is a *MisuseError with the given
// sentinel, op and count.
func semRequireMisuse(t *testing.T, err error, want error, op string, count int64) {
	t.Helper()
	var me *MisuseError
	require.True(t, errors.As(err, &me), "want *MisuseError, got %T %v", err, err)
	assert.ErrorIs(t, err, want)
	assert.Equal(t, op, me.Op)
	assert.Equal(t, count, me.Count)
	assert.Contains(t, me.Error(), op)
	if want == ErrBadDelta {
		assert.Contains(t, me.Error(), fmt.Sprintf("(n %d)", count))
	} else {
		assert.Contains(t, me.Error(), fmt.Sprintf("(count %d)", count))
	}
}

// semRequirePoisoned asserts that err is a *MisuseError on a count poisoned
// by an earlier misuse, with the given cause and op.
func semRequirePoisoned(t *testing.T, err error, want error, op string) {
	t.Helper()
	var me *MisuseError
	require.True(t, errors.As(err, &me), "want *MisuseError, got %T %v", err, err)
	assert.ErrorIs(t, err, want)
	assert.Equal(t, op, me.Op)
	assert.True(t, me.Poisoned)
	assert.Contains(t, me.Error(), "poisoned by an earlier misuse")
}

// isPoisoned reports whether an earlier misuse poisoned r's count.
func isPoisoned(r *Ref) bool { return r.cells.State.Load()&stPoisoned != 0 }

// ---------------------------------------------------------------------------
// New / Init and the Options

func TestNewStartsPercpuAtOne(t *testing.T) {
	r := New(nil)
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.IsPercpu())
	assert.False(t, r.IsDying())
	assert.False(t, r.IsZero())
	assert.False(t, semClosed(r.Done()))
}

func TestNewInitAtomicStartsAtomicAtOne(t *testing.T) {
	r := New(nil, InitAtomic())
	assert.Equal(t, int64(1), r.Read())
	assert.False(t, r.IsPercpu())
	assert.False(t, r.IsDying())
	assert.False(t, r.IsZero())
}

func TestNewInitDeadStartsDyingAtZero(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitDead())
	assert.Equal(t, int64(0), r.Read())
	assert.False(t, r.IsPercpu())
	assert.True(t, r.IsDying())
	assert.True(t, r.IsZero())
	assert.Equal(t, 0, rel.calls(), "nothing is released for the initial dead state")
	assert.False(t, semClosed(r.Done()))
}

func TestNewAllowReinitKeepsShardsAcrossSwitch(t *testing.T) {
	r := New(nil, AllowReinit())
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	r.SwitchToAtomicSync()
	assert.False(t, r.IsPercpu())
	r.SwitchToPercpu()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
}

func TestNewWithoutAllowReinitCannotGoBackToPercpu(t *testing.T) {
	var log semLog
	r := New(nil, log.option())
	r.SwitchToAtomicSync()
	r.SwitchToPercpu()
	assert.False(t, r.IsPercpu())
	require.Len(t, log.all(), 1)
	assert.ErrorIs(t, log.all()[0], ErrNoReinit)
}

func TestNewWithShardsRoundsUpAndClamps(t *testing.T) {
	// White-box: the number of shards is not observable through the API.
	for _, tc := range []struct{ in, want int }{{1, 1}, {3, 4}, {64, 64}, {1 << 20, 1024}} {
		r := New(nil, WithShards(tc.in))
		assert.Equal(t, tc.want, r.cells.Len(), "WithShards(%d)", tc.in)
		r.GetMany(5)
		assert.Equal(t, int64(6), r.Read())
		r.PutMany(5)
		assert.Equal(t, int64(1), r.Read())
	}
}

func TestNewWithMisuseHandlerReportsInsteadOfPanicking(t *testing.T) {
	var log semLog
	r := New(nil, InitAtomic(), log.option())
	assert.NotPanics(t, func() { r.PutMany(2) })
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrUnderflow, "PutMany", 1)

	r2 := New(nil, InitAtomic())
	me := semCatch(func() { r2.PutMany(2) })
	require.NotNil(t, me)
	semRequireMisuse(t, me, ErrUnderflow, "PutMany", 1)
}

func TestNewNilReleaseIsAllowed(t *testing.T) {
	r := New(nil)
	r.Get()
	r.Kill()
	assert.True(t, r.Put(), "the last Put reports the release even with a nil release func")
	assert.True(t, semClosed(r.Done()))
	assert.True(t, r.IsZero())
}

func TestInitEmbeddedBehavesLikeNew(t *testing.T) {
	type owner struct {
		data [3]int64 // the Ref need not be the first field
		ref  Ref
	}
	var rel semRel
	var o owner
	o.data[0] = 7
	o.ref.Init(rel.fn())
	assert.Equal(t, int64(1), o.ref.Read())
	assert.True(t, o.ref.IsPercpu())
	o.ref.Kill()
	assert.Equal(t, 1, rel.calls())
	assert.Equal(t, int64(7), o.data[0], "Init does not touch the owner's other fields")

	var o2 owner
	o2.ref.Init(nil, InitAtomic())
	assert.False(t, o2.ref.IsPercpu())
	var o3 owner
	o3.ref.Init(nil, InitDead())
	assert.True(t, o3.ref.IsDying())
	assert.True(t, o3.ref.IsZero())
}

func TestInitAfterExitMakesRefUsableAgain(t *testing.T) {
	var rel semRel
	r := New(nil)
	r.Exit()
	r.Init(rel.fn())
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	r.Get()
	r.Kill()
	assert.Equal(t, 0, rel.calls())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
}

// ---------------------------------------------------------------------------
// Get / Put / GetMany / PutMany

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

// Per-CPU mode: Put never releases, so it always returns false (the
// committed f125e35 returned true here; fixed by the fast-path rewrite).
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

// ---------------------------------------------------------------------------
// TryGet / GetUnlessZero / TryGetMany / TryGetLive

func TestTryGetFamilyPercpuAlwaysSucceeds(t *testing.T) {
	r := New(nil)
	assert.True(t, r.TryGet())
	assert.True(t, r.GetUnlessZero())
	assert.True(t, r.TryGetMany(3))
	assert.True(t, r.TryGetLive())
	assert.Equal(t, int64(7), r.Read())
	assert.True(t, r.IsPercpu())
}

func TestTryGetFamilyAtomicIncrementUnlessZero(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitAtomic())
	assert.True(t, r.TryGet())
	assert.True(t, r.GetUnlessZero())
	assert.True(t, r.TryGetMany(3))
	assert.True(t, r.TryGetLive(), "atomic but not dying: TryGetLive succeeds while count > 0")
	assert.Equal(t, int64(7), r.Read())
	assert.True(t, r.PutMany(7))
	assert.Equal(t, 1, rel.calls())

	assert.False(t, r.TryGet())
	assert.False(t, r.GetUnlessZero())
	assert.False(t, r.TryGetMany(3))
	assert.False(t, r.TryGetLive())
	assert.Equal(t, int64(0), r.Read(), "a failed TryGet leaves the count at 0")
	assert.True(t, r.IsZero())
	assert.Equal(t, 1, rel.calls())
}

func TestTryGetFamilyDying(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), log.option())
	r.Get()
	r.Kill()
	assert.True(t, r.TryGet(), "dying with count > 0: TryGet succeeds")
	assert.True(t, r.GetUnlessZero())
	assert.True(t, r.TryGetMany(2))
	assert.False(t, r.TryGetLive(), "dying: TryGetLive fails")
	assert.Equal(t, int64(5), r.Read())
	assert.True(t, r.PutMany(5))
	assert.Equal(t, 1, rel.calls())
	assert.False(t, r.TryGet())
	assert.False(t, r.GetUnlessZero())
	assert.False(t, r.TryGetMany(2))
	assert.False(t, r.TryGetLive())
	assert.Equal(t, int64(0), r.Read())
	assert.Empty(t, log.all())
}

func TestTryGetLiveFailsOnceKillHasReturned(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	var killed atomic.Bool
	var stop atomic.Bool
	var bad, good atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				after := killed.Load()
				if r.TryGetLive() {
					if after {
						bad.Add(1)
					}
					good.Add(1)
					r.Put()
				}
			}
		}()
	}
	time.Sleep(2 * time.Millisecond)
	r.Get() // keep it alive until the getters stop
	r.Kill()
	killed.Store(true)
	time.Sleep(2 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	assert.Zero(t, bad.Load(), "TryGetLive succeeded after Kill returned")
	assert.Equal(t, 0, rel.calls())
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
	t.Logf("successful TryGetLive before Kill: %d", good.Load())
}

// ---------------------------------------------------------------------------
// Kill / KillAndConfirm

func TestKillAndConfirmConfirmBeforeReleaseInsideKill(t *testing.T) {
	var mu sync.Mutex
	var events []string
	add := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	r := New(func() { add("release") })
	r.KillAndConfirm(func() { add("confirm") })
	add("returned")
	assert.Equal(t, []string{"confirm", "release", "returned"}, events)
	assert.True(t, semClosed(r.Done()))
}

func TestKillAndConfirmSeesAtomicDyingRefInConfirm(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	r.GetMany(2)
	calls := 0
	r.KillAndConfirm(func() {
		calls++
		assert.True(t, r.IsDying())
		assert.False(t, r.IsPercpu())
		assert.Equal(t, int64(3), r.Read(), "the initial ref is dropped after confirm")
		assert.False(t, r.TryGetLive())
	})
	assert.Equal(t, 1, calls)
	assert.Equal(t, int64(2), r.Read())
	assert.Equal(t, 0, rel.calls(), "release waits for the remaining refs")
	assert.False(t, r.Put())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
}

func TestKillIsKillAndConfirmNil(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	r.Get()
	r.Kill()
	assert.True(t, r.IsDying())
	assert.False(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read(), "after Kill the count is exact")
	assert.Equal(t, 0, rel.calls())
	assert.True(t, r.Put(), "the next Put that reaches zero releases")
	assert.Equal(t, 1, rel.calls())
}

// ---------------------------------------------------------------------------
// SwitchToAtomic / SwitchToAtomicSync / SwitchToPercpu

func TestSwitchToAtomicRunsConfirmBeforeReturn(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), AllowReinit())
	r.GetMany(3)
	confirmed := false
	r.SwitchToAtomic(func() {
		confirmed = true
		assert.False(t, r.IsPercpu())
		assert.Equal(t, int64(4), r.Read())
	})
	assert.True(t, confirmed)
	assert.False(t, r.IsPercpu())
	assert.False(t, r.IsDying(), "a switch does not kill")
	assert.True(t, r.TryGetLive(), "a switched, live Ref still gives live refs")
	assert.Equal(t, int64(5), r.Read())
	assert.False(t, r.PutMany(4))
	assert.True(t, r.Put(), "atomic mode: the Put of the last ref releases even without Kill")
	assert.Equal(t, 1, rel.calls())
}

func TestSwitchToAtomicSyncSwitches(t *testing.T) {
	r := New(nil, AllowReinit())
	r.Get()
	r.SwitchToAtomicSync()
	assert.False(t, r.IsPercpu())
	assert.Equal(t, int64(2), r.Read())
}

func TestSwitchToAtomicIsStickyAcrossKillAndReinit(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), AllowReinit())
	r.SwitchToAtomicSync()
	r.Kill()
	assert.Equal(t, 1, rel.calls())
	r.Reinit()
	assert.False(t, r.IsPercpu(), "sticky: Reinit keeps atomic mode")
	assert.Equal(t, int64(1), r.Read())
	r.SwitchToPercpu()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
}

func TestSwitchToAtomicIsStickyAcrossResurrect(t *testing.T) {
	r := New(nil, AllowReinit())
	r.Get()
	r.SwitchToAtomicSync()
	r.Kill()
	r.Resurrect()
	assert.False(t, r.IsDying())
	assert.False(t, r.IsPercpu(), "sticky: Resurrect keeps atomic mode")
	assert.Equal(t, int64(2), r.Read())
	r.SwitchToPercpu()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(2), r.Read())
}

func TestSwitchToPercpuOnInitAtomic(t *testing.T) {
	r := New(nil, InitAtomic())
	r.GetMany(2)
	r.SwitchToPercpu()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(3), r.Read())
	r.PutMany(2)
	assert.Equal(t, int64(1), r.Read())
}

func TestSwitchToPercpuOnDyingOnlyClearsStickiness(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitAtomic())
	r.Get()
	r.Kill()
	r.SwitchToPercpu()
	assert.True(t, r.IsDying())
	assert.False(t, r.IsPercpu(), "dying stays atomic")
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.Put())
	r.Reinit()
	assert.True(t, r.IsPercpu(), "stickiness was cleared: Reinit goes per-CPU")
}

func TestSwitchToPercpuAtZeroStaysAtomicUntilReinit(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), InitAtomic(), log.option())
	assert.True(t, r.Put())
	r.SwitchToPercpu()
	assert.False(t, r.IsPercpu())
	assert.True(t, r.IsZero())
	assert.False(t, r.TryGet())
	r.Reinit()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	assert.Empty(t, log.all())
}

func TestSwitchToPercpuOnPercpuIsNoop(t *testing.T) {
	var log semLog
	r := New(nil, log.option())
	r.SwitchToPercpu()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	assert.Empty(t, log.all())
}

// ---------------------------------------------------------------------------
// Resurrect / Reinit

func TestResurrectRestoresInitialRef(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), AllowReinit())
	r.GetMany(2)
	r.Kill()
	assert.Equal(t, int64(2), r.Read())
	r.Resurrect()
	assert.False(t, r.IsDying())
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(3), r.Read())
	assert.True(t, r.TryGetLive())
	assert.False(t, r.Put())
	assert.False(t, r.PutMany(2))
	assert.Equal(t, int64(1), r.Read())
	assert.Equal(t, 0, rel.calls())
	r.Kill()
	assert.Equal(t, 1, rel.calls(), "the restored initial ref is the last one")
}

func TestReinitAfterReleaseStartsNewLife(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), AllowReinit())
	r.Kill()
	assert.Equal(t, 1, rel.calls())
	old := r.Done()
	assert.True(t, semClosed(old))
	r.Reinit()
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.IsPercpu())
	assert.False(t, r.IsDying())
	assert.False(t, r.IsZero())
	nw := r.Done()
	assert.NotEqual(t, old, nw, "Done returns a new channel after Reinit")
	assert.False(t, semClosed(nw))
	assert.True(t, r.TryGetLive())
	r.Put()
	r.Kill()
	assert.Equal(t, 2, rel.calls())
	assert.True(t, semClosed(nw))
}

func TestReinitFromInsideRelease(t *testing.T) {
	var rel semRel
	var r *Ref
	var doneInRelease <-chan struct{}
	r = New(func() {
		rel.n.Add(1)
		doneInRelease = r.Done()
		r.Reinit()
	}, AllowReinit())
	r.Kill()
	assert.Equal(t, 1, rel.calls())
	assert.False(t, r.IsDying())
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, semClosed(doneInRelease), "the old life's Done is closed after release returns")
	nw := r.Done()
	assert.NotEqual(t, doneInRelease, nw)
	assert.False(t, semClosed(nw), "the new life's Done is open")
	// The second life releases again (and Reinits again).
	r.Kill()
	assert.Equal(t, 2, rel.calls())
	assert.True(t, semClosed(nw))
}

func TestReinitOnInitDead(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitDead())
	d := r.Done()
	r.Reinit()
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.IsPercpu())
	assert.False(t, r.IsDying())
	assert.False(t, semClosed(d))
	r.Kill()
	assert.Equal(t, 1, rel.calls())
	assert.True(t, semClosed(r.Done()))
}

// ---------------------------------------------------------------------------
// Exit

func TestExitKeepsFinalCountAndFreesShards(t *testing.T) {
	var log semLog
	r := New(nil, log.option())
	r.GetMany(3)
	r.Exit()
	assert.Equal(t, int64(4), r.Read())
	assert.False(t, r.IsPercpu())
	assert.False(t, r.IsZero())
	assert.Nil(t, r.cells.Base, "white-box: Exit frees the shards")
	r.Get()
	assert.Equal(t, int64(4), r.Read(), "no more Gets after Exit")
	require.Len(t, log.all(), 1)
	assert.ErrorIs(t, log.all()[0], ErrExited)
}

func TestExitTwiceIsNoop(t *testing.T) {
	var log semLog
	r := New(nil, log.option())
	r.Exit()
	assert.NotPanics(t, r.Exit)
	assert.Equal(t, int64(1), r.Read())
	assert.Empty(t, log.all())

	var zero Ref
	assert.NotPanics(t, zero.Exit, "Exit on a never-initialised Ref does nothing")
	assert.Equal(t, int64(0), zero.Read())
}

func TestExitFromInsideRelease(t *testing.T) {
	var rel semRel
	var r *Ref
	r = New(func() { rel.n.Add(1); r.Exit() })
	r.Get()
	r.Kill()
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
	assert.True(t, r.IsZero())
	assert.Nil(t, r.cells.Base, "white-box: Exit from release freed the shards")
	assert.True(t, semClosed(r.Done()))
	me := semCatch(func() { r.Get() })
	require.NotNil(t, me)
	assert.ErrorIs(t, me, ErrExited)
}

// ---------------------------------------------------------------------------
// IsZero / IsDying / IsPercpu / Read across a life

func TestPredicatesAcrossLifecycle(t *testing.T) {
	type snap struct {
		zero, dying, percpu bool
		count               int64
	}
	get := func(r *Ref) snap { return snap{r.IsZero(), r.IsDying(), r.IsPercpu(), r.Read()} }
	r := New(nil, AllowReinit())
	assert.Equal(t, snap{false, false, true, 1}, get(r), "new")
	r.GetMany(2)
	assert.Equal(t, snap{false, false, true, 3}, get(r), "per-CPU with refs")
	r.SwitchToAtomicSync()
	assert.Equal(t, snap{false, false, false, 3}, get(r), "switched")
	r.SwitchToPercpu()
	assert.Equal(t, snap{false, false, true, 3}, get(r), "back")
	r.Kill()
	assert.Equal(t, snap{false, true, false, 2}, get(r), "killed")
	r.PutMany(2)
	assert.Equal(t, snap{true, true, false, 0}, get(r), "released")
	r.Reinit()
	assert.Equal(t, snap{false, false, true, 1}, get(r), "reinit")
	r.Exit()
	assert.Equal(t, snap{false, false, false, 1}, get(r), "exited")
}

// ---------------------------------------------------------------------------
// Done, and calling back into the Ref from release and confirm

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

func TestReleaseMayCallBackIntoRef(t *testing.T) {
	var r *Ref
	called := false
	r = New(func() {
		called = true
		assert.Equal(t, int64(0), r.Read())
		assert.True(t, r.IsZero())
		assert.True(t, r.IsDying())
		assert.False(t, r.IsPercpu())
		assert.False(t, r.TryGet())
		assert.False(t, r.TryGetLive())
		assert.False(t, semClosed(r.Done()), "Done from release: not closed yet")
		r.SwitchToAtomicSync() // a control op: must not deadlock
	})
	finished := make(chan struct{})
	go func() { r.Kill(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("Kill deadlocked with a release that calls back into the Ref")
	}
	assert.True(t, called)
}

func TestConfirmMayCallBackIntoRef(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), AllowReinit())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		r.KillAndConfirm(func() {
			r.Get()
			assert.Equal(t, int64(2), r.Read())
			assert.False(t, r.Put())
			r.SwitchToAtomicSync()
		})
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("KillAndConfirm deadlocked with a confirm that calls back into the Ref")
	}
	assert.Equal(t, 1, rel.calls())
	assert.True(t, r.IsZero())

	r2 := New(nil, AllowReinit())
	r2.SwitchToAtomic(func() { r2.SwitchToPercpu() })
	assert.True(t, r2.IsPercpu(), "confirm may switch back")
}

// ---------------------------------------------------------------------------
// PutLocked

func TestPutLockedTakesLockOnlyForFinalPut(t *testing.T) {
	var mu sync.Mutex
	heldInRelease := false
	r := New(func() { heldInRelease = !mu.TryLock() })
	r.GetMany(3) // count 4
	mu.Lock()
	// Per-CPU and non-final atomic puts must not touch mu (it is held here,
	// so taking it would deadlock).
	assert.False(t, r.PutLocked(&mu)) // per-CPU: 3
	r.Kill()                          // 2
	assert.False(t, r.PutLocked(&mu)) // atomic, not final: 1
	mu.Unlock()
	assert.True(t, r.PutLocked(&mu))
	assert.True(t, heldInRelease, "release runs with mu held")
	assert.True(t, mu.TryLock(), "PutLocked unlocks mu after release returns")
	mu.Unlock()
}

// ---------------------------------------------------------------------------
// Concurrency and memory order

func TestConcurrentTrafficWithKillReleasesOnceAfterLastPut(t *testing.T) {
	for round := 0; round < 20; round++ {
		var rel semRel
		var outstanding atomic.Int64
		var early atomic.Bool
		r := New(func() {
			rel.n.Add(1)
			if outstanding.Load() != 0 {
				early.Store(true)
			}
		})
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			r.Get()
			outstanding.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 500; i++ {
					if r.TryGet() {
						r.Get()
						r.PutMany(1)
						r.Put()
					}
				}
				outstanding.Add(-1)
				r.Put()
			}()
		}
		r.Kill()
		wg.Wait()
		assert.Equal(t, 1, rel.calls())
		assert.False(t, early.Load(), "release ran while a reference was held")
		assert.True(t, r.IsZero())
	}
}

func TestConcurrentControlOpsRaceFastPath(t *testing.T) {
	var log semLog
	var rel semRel
	r := New(rel.fn(), AllowReinit(), log.option())
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				r.Get()
				r.GetMany(3)
				if r.TryGetLive() {
					r.Put()
				}
				r.PutMany(3)
				r.Put()
			}
		}()
	}
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				r.SwitchToAtomicSync()
				r.SwitchToPercpu()
				_ = r.Read()
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	assert.Empty(t, log.all())
	assert.Equal(t, 0, rel.calls())
	assert.Equal(t, int64(1), r.Read())
	r.Kill()
	assert.Equal(t, 1, rel.calls())
}

func TestReleaseSeesWritesMadeBeforePuts(t *testing.T) {
	for _, mode := range []string{"percpu", "atomic"} {
		t.Run(mode, func(t *testing.T) {
			const n = 16
			data := make([]int, n) // plain, non-atomic memory
			var seen []int
			var opts []Option
			if mode == "atomic" {
				opts = append(opts, InitAtomic())
			}
			r := New(func() { seen = append([]int(nil), data...) }, opts...)
			r.GetMany(n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					data[i] = i + 1
					r.Put()
				}()
			}
			if mode == "atomic" {
				r.Put()
			} else {
				r.Kill()
			}
			wg.Wait()
			<-r.Done()
			want := make([]int, n)
			for i := range want {
				want[i] = i + 1
			}
			// Under -race, a missing happens-before edge between the writes
			// and release is reported as a data race.
			assert.Equal(t, want, seen)
		})
	}
}

func TestConcurrentKillsOneWins(t *testing.T) {
	for round := 0; round < 100; round++ {
		var rel semRel
		var log semLog
		r := New(rel.fn(), log.option())
		r.Get()
		var wg sync.WaitGroup
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() { defer wg.Done(); r.Kill() }()
		}
		wg.Wait()
		errs := log.all()
		require.Len(t, errs, 2, "the two losing Kills report")
		for _, err := range errs {
			assert.ErrorIs(t, err, ErrKilled)
		}
		assert.Equal(t, int64(1), r.Read(), "one initial reference dropped, not three")
		assert.True(t, r.Put())
		assert.Equal(t, 1, rel.calls())
	}
}

func TestResurrectRacesPuts(t *testing.T) {
	for round := 0; round < 100; round++ {
		var rel semRel
		var log semLog
		r := New(rel.fn(), AllowReinit(), log.option())
		r.GetMany(4)
		r.Kill()
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() { defer wg.Done(); r.Put() }()
		}
		r.Resurrect()
		wg.Wait()
		if rel.calls() == 1 {
			// The Puts won: Resurrect found the Ref released.
			require.Len(t, log.all(), 1)
			assert.ErrorIs(t, log.all()[0], ErrReleased)
			assert.True(t, r.IsZero())
			continue
		}
		assert.Empty(t, log.all())
		assert.Equal(t, int64(1), r.Read())
		assert.True(t, r.IsPercpu())
		assert.False(t, r.IsDying())
		r.Kill()
		assert.Equal(t, 1, rel.calls())
	}
}

// Control operations race each other and the fast path (SPEC section 3,
// Concurrency). Holders keep a base reference throughout, so nothing may
// be released until they drop it; the only reports allowed are the ones the
// races make legitimate (Kill on a dying Ref, Resurrect on a live one).
func TestControlOpsRaceEachOther(t *testing.T) {
	const holders = 4
	var log semLog
	var held atomic.Int64
	var rel semRel
	var early atomic.Bool
	r := New(func() {
		rel.n.Add(1)
		if held.Load() != 0 {
			early.Store(true)
		}
	}, AllowReinit(), log.option())
	held.Store(holders)
	r.GetMany(holders)
	var stop atomic.Bool
	var hw, cw sync.WaitGroup
	for g := 0; g < holders; g++ {
		hw.Add(1)
		go func() {
			defer hw.Done()
			for !stop.Load() {
				r.Get()
				if r.TryGet() {
					r.Put()
				}
				if r.TryGetLive() { // fails while dying
					r.Put()
				}
				r.GetMany(2)
				r.PutMany(2)
				r.Put()
			}
		}()
	}
	ops := []func(){
		r.Kill,
		r.Resurrect,
		r.SwitchToAtomicSync,
		r.SwitchToPercpu,
		func() { _ = r.Read() },
	}
	for g := 0; g < 3; g++ {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for i := 0; i < 300; i++ {
				ops[(i*7+g)%len(ops)]()
			}
		}()
	}
	cw.Wait()
	stop.Store(true)
	hw.Wait()
	for _, err := range log.all() {
		if !errors.Is(err, ErrKilled) && !errors.Is(err, ErrLive) {
			t.Errorf("unexpected report: %v", err)
		}
	}
	t.Logf("%d expected reports", len(log.all()))
	assert.Equal(t, 0, rel.calls())
	if !r.IsDying() {
		r.Kill()
	}
	assert.Equal(t, int64(holders), r.Read(), "exact after Kill: only the base refs")
	held.Store(0)
	assert.False(t, r.PutMany(holders-1))
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
	assert.False(t, early.Load(), "released while a holder still had its base ref")
}
