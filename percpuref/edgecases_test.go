package percpuref

// Edge cases of the kernel's percpu_ref (items 1-31) and kref / refcount_t
// dec_and_lock (items 41-43), numbered as in the project's first survey of
// them. Each test is named after its item. The expected results are the
// kernel's; where our contract (docs/semantics.md) deliberately differs, the comment says so and the test pins our
// behaviour:
//
//   - Kill and the switches are synchronous (no RCU grace period): confirm
//     runs before the call returns, and release runs inside Kill when Kill
//     drops the last reference.
//   - A second Kill is a no-op reported as ErrKilled; the kernel drops an
//     extra reference.
//   - Misuse is a *MisuseError (a panic by default, or a call to the
//     WithMisuseHandler handler) instead of a WARN, and a misuse that breaks
//     the count poisons it (pinned far from zero) instead of carrying on.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Item 1. Kernel: release runs asynchronously after the grace period. Ours:
// Kill is synchronous, so release has run (once) when Kill returns.
func TestEdge01_InitThenKillReleasesOnce(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	assert.False(t, r.IsZero())
	assert.False(t, r.IsDying())
	assert.True(t, r.IsPercpu())
	r.Kill()
	assert.True(t, r.IsDying(), "dying when Kill returns")
	assert.Equal(t, 1, rel.calls(), "release ran inside Kill")
	assert.True(t, r.IsZero())
	assert.True(t, semClosed(r.Done()))
}

// Item 2. N goroutines Get, Kill, N Puts: release only after the last Put,
// with the count checked at every step.
func TestEdge02_GetsKillPutsCountedAtEveryStep(t *testing.T) {
	const n = 16
	var rel semRel
	r := New(rel.fn())
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); r.Get() }()
	}
	wg.Wait()
	assert.Equal(t, int64(n+1), r.Read())
	r.Kill()
	assert.Equal(t, int64(n), r.Read())
	for i := n; i > 1; i-- {
		assert.False(t, r.Put())
		assert.Equal(t, int64(i-1), r.Read())
		assert.Equal(t, 0, rel.calls(), "released early, %d refs left", i-1)
	}
	assert.True(t, r.Put())
	assert.Equal(t, int64(0), r.Read())
	assert.Equal(t, 1, rel.calls())
}

// Item 3. Gets on one shard and Puts on another drive single cells apart
// (and, far enough, out of the live range); the fold still gives the exact
// count, with no early release and no misuse report.
func TestEdge03_GetsOnOneShardPutsOnAnother(t *testing.T) {
	t.Run("two-Ps", func(t *testing.T) {
		// Two goroutines spinning at once on two Ps use two different cells.
		// White-box: the cells are inspected to show they diverged.
		procs := runtime.GOMAXPROCS(0)
		if procs < 2 {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
			procs = 2
		}
		diverged := false
		for attempt := 0; attempt < 50 && !diverged; attempt++ {
			var log semLog
			var rel semRel
			r := New(rel.fn(), WithShards(procs), log.option())
			const k = 20000
			var avail atomic.Int64
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; i < k; i++ {
					r.Get()
					avail.Add(1)
				}
			}()
			go func() {
				defer wg.Done()
				for put := 0; put < k; {
					if avail.Load() > 0 {
						avail.Add(-1)
						r.Put()
						put++
					}
				}
			}()
			wg.Wait()
			pos, neg := false, false
			for i := 0; i < r.cells.Len(); i++ {
				v := r.cells.Cell(i).Load()
				pos = pos || v > 0
				neg = neg || v < 0
			}
			diverged = pos && neg
			require.Equal(t, int64(1), r.Read())
			require.Equal(t, 0, rel.calls())
			r.Kill()
			require.Equal(t, 1, rel.calls())
			require.Empty(t, log.all())
		}
		assert.True(t, diverged, "never saw Gets and Puts land on different cells")
	})
	t.Run("drift-past-live-range", func(t *testing.T) {
		// With one shard, enough GetMany(MaxDelta) calls take the cell past
		// the live range (liveLimit) so the drift fold runs; then the same
		// in Puts, down past -liveLimit.
		var log semLog
		var rel semRel
		r := New(rel.fn(), WithShards(1), log.option())
		const rounds = liveLimit/MaxDelta + 2
		for i := 0; i < rounds; i++ {
			r.GetMany(MaxDelta)
		}
		assert.Equal(t, int64(1+rounds*MaxDelta), r.Read())
		assert.Greater(t, r.count.Load()-bias, int64(1), "white-box: a drifting cell was folded into the central count")
		for i := 0; i < rounds; i++ {
			r.PutMany(MaxDelta)
		}
		assert.Equal(t, int64(1), r.Read())
		for i := 0; i < rounds; i++ { // now the other way: Puts first
			r.PutMany(MaxDelta)
			r.GetMany(MaxDelta)
		}
		assert.Equal(t, int64(1), r.Read())
		assert.Equal(t, 0, rel.calls())
		r.Kill()
		assert.Equal(t, 1, rel.calls())
		assert.Empty(t, log.all())
	})
}

// Item 4. GetMany/PutMany with k > 1 spanning a mode switch keep the total.
func TestEdge04_ManySpanningModeSwitch(t *testing.T) {
	t.Run("sequential", func(t *testing.T) {
		var rel semRel
		r := New(rel.fn(), AllowReinit())
		r.GetMany(7)
		r.SwitchToAtomicSync()
		assert.Equal(t, int64(8), r.Read())
		assert.False(t, r.PutMany(3))
		r.SwitchToPercpu()
		assert.Equal(t, int64(5), r.Read())
		r.GetMany(5)
		r.Kill()
		assert.Equal(t, int64(9), r.Read())
		assert.False(t, r.PutMany(8))
		assert.Equal(t, 0, rel.calls())
		assert.True(t, r.PutMany(1))
		assert.Equal(t, 1, rel.calls())
	})
	t.Run("concurrent", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), AllowReinit(), log.option())
		var stop atomic.Bool
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 2; !stop.Load(); k = k%9 + 2 {
					r.GetMany(k)
					r.GetMany(k + 1)
					r.PutMany(k)
					r.PutMany(k + 1)
				}
			}()
		}
		for i := 0; i < 200; i++ {
			r.SwitchToAtomicSync()
			r.SwitchToPercpu()
		}
		stop.Store(true)
		wg.Wait()
		assert.Equal(t, int64(1), r.Read())
		assert.Equal(t, 0, rel.calls())
		r.Kill()
		assert.Equal(t, 1, rel.calls())
		assert.Empty(t, log.all())
	})
}

// Item 5. InitAtomic: the Put of the initial reference (no Kill) releases
// synchronously in that Put.
func TestEdge05_InitAtomicPutReleasesSynchronously(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitAtomic())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls(), "release has returned when Put returns")
	assert.True(t, semClosed(r.Done()))
	assert.False(t, r.IsDying(), "released without being killed")
}

// Item 6. InitAtomic, KillAndConfirm(cb) with no other refs: cb, then
// release, both inside Kill.
func TestEdge06_InitAtomicKillAndConfirmOrder(t *testing.T) {
	var events []string
	r := New(func() { events = append(events, "release") }, InitAtomic())
	r.KillAndConfirm(func() { events = append(events, "confirm") })
	events = append(events, "returned")
	assert.Equal(t, []string{"confirm", "release", "returned"}, events)
}

// Item 7. KillAndConfirm with extra refs: cb runs once, after the switch;
// release only after the remaining Puts. With no extra refs release runs
// right after cb. Ours: both inside KillAndConfirm (kernel: in the RCU
// callback).
func TestEdge07_KillAndConfirmWithExtraRefs(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	r.GetMany(3)
	confirms := 0
	r.KillAndConfirm(func() {
		confirms++
		assert.False(t, r.IsPercpu(), "confirm runs after the switch")
		assert.Equal(t, int64(4), r.Read())
	})
	assert.Equal(t, 1, confirms)
	assert.Equal(t, 0, rel.calls())
	assert.False(t, r.PutMany(2))
	assert.Equal(t, 0, rel.calls())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())

	var events []string
	r2 := New(func() { events = append(events, "release") })
	r2.KillAndConfirm(func() { events = append(events, "confirm") })
	assert.Equal(t, []string{"confirm", "release"}, events)
}

// Item 8. InitDead: dying, zero, no TryGet; Reinit makes it live at 1,
// per-CPU (atomic if InitAtomic was also given).
func TestEdge08_InitDead(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       []Option
		wantPercpu bool
	}{
		{"dead", []Option{InitDead()}, true},
		{"dead+atomic", []Option{InitDead(), InitAtomic()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rel semRel
			r := New(rel.fn(), tc.opts...)
			assert.True(t, r.IsDying())
			assert.True(t, r.IsZero())
			assert.False(t, r.TryGet())
			assert.False(t, r.TryGetLive())
			assert.Equal(t, int64(0), r.Read())
			r.Reinit()
			assert.False(t, r.IsDying())
			assert.False(t, r.IsZero())
			assert.Equal(t, int64(1), r.Read())
			assert.Equal(t, tc.wantPercpu, r.IsPercpu())
			assert.True(t, r.TryGetLive())
			r.Put()
			assert.Equal(t, 0, rel.calls())
			r.Kill()
			assert.Equal(t, 1, rel.calls())
		})
	}
}

// Item 9. Stickiness: InitAtomic, kill to 0, Reinit: still atomic;
// SwitchToPercpu: per-CPU.
func TestEdge09_StickyAtomicAcrossReinit(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitAtomic())
	r.Kill()
	assert.Equal(t, 1, rel.calls())
	r.Reinit()
	assert.False(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	r.SwitchToPercpu()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
}

// Item 10. SwitchToPercpu on a dying Ref: mode unchanged, stickiness
// cleared, the later Reinit goes per-CPU.
func TestEdge10_SwitchToPercpuOnDyingClearsSticky(t *testing.T) {
	for _, name := range []string{"InitAtomic", "SwitchToAtomic"} {
		t.Run(name, func(t *testing.T) {
			var rel semRel
			var r *Ref
			if name == "InitAtomic" {
				r = New(rel.fn(), InitAtomic())
			} else {
				r = New(rel.fn(), AllowReinit())
				r.SwitchToAtomicSync()
			}
			r.Get()
			r.Kill()
			r.SwitchToPercpu()
			assert.True(t, r.IsDying())
			assert.False(t, r.IsPercpu())
			assert.Equal(t, int64(1), r.Read())
			assert.True(t, r.Put())
			r.Reinit()
			assert.True(t, r.IsPercpu())
		})
	}
}

// Item 11. Double Kill. Kernel: WARN and one extra reference dropped. Ours
// (SPEC section 4): reported as ErrKilled, nothing dropped, the second
// confirm does not run.
func TestEdge11_DoubleKillIsReportedNoop(t *testing.T) {
	t.Run("handler", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), log.option())
		r.GetMany(2)
		r.Kill()
		confirmed := false
		r.KillAndConfirm(func() { confirmed = true })
		assert.False(t, confirmed)
		assert.Equal(t, int64(2), r.Read(), "no extra reference dropped")
		require.Len(t, log.all(), 1)
		semRequireMisuse(t, log.all()[0], ErrKilled, "Kill", 2)
		assert.False(t, r.Put())
		assert.True(t, r.Put())
		assert.Equal(t, 1, rel.calls())
	})
	t.Run("default-panics", func(t *testing.T) {
		var rel semRel
		r := New(rel.fn())
		r.Get()
		r.Kill()
		me := semCatch(r.Kill)
		require.NotNil(t, me)
		semRequireMisuse(t, me, ErrKilled, "Kill", 1)
		assert.Equal(t, int64(1), r.Read())
		assert.True(t, r.Put())
		assert.Equal(t, 1, rel.calls())
	})
}

// Item 12. TryGet after Kill with count > 0 succeeds. TryGetLive after the
// confirm fails. Kernel: TryGetLive may still succeed between Kill and the
// confirm. Ours (SPEC): it fails once the Ref is marked dying, which is
// before confirm runs, so there is no window to tolerate.
func TestEdge12_TryGetAfterKill(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	r.Get()
	inConfirm := true
	r.KillAndConfirm(func() { inConfirm = r.TryGetLive() })
	assert.False(t, inConfirm, "TryGetLive fails already inside confirm")
	assert.False(t, r.TryGetLive())
	assert.True(t, r.TryGet())
	assert.Equal(t, int64(2), r.Read())
	assert.False(t, r.Put())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
}

// Item 13. TryGetLive on a forced-atomic, live Ref: true iff count > 0.
func TestEdge13_TryGetLiveForcedAtomic(t *testing.T) {
	var rel semRel
	r := New(rel.fn(), InitAtomic())
	assert.True(t, r.TryGetLive())
	assert.Equal(t, int64(2), r.Read())
	assert.False(t, r.Put())
	assert.True(t, r.Put())
	assert.False(t, r.IsDying())
	assert.False(t, r.TryGetLive())
	assert.Equal(t, int64(0), r.Read())
	assert.Equal(t, 1, rel.calls())
}

// Item 14. TryGetMany in atomic mode: at 0, false and unchanged. Kernel:
// after an underflow the count is negative and TryGetMany succeeds. Ours:
// the underflow poisons the count (pinned at poison, far below 0), and
// TryGetMany fails, as on a count of zero, without a further report.
func TestEdge14_TryGetManyAtomic(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), InitAtomic(), log.option())
	assert.True(t, r.Put())
	assert.False(t, r.TryGetMany(4))
	assert.Equal(t, int64(0), r.Read())
	assert.Empty(t, log.all())

	r2 := New(rel.fn(), InitAtomic(), log.option())
	r2.PutMany(3) // underflow: 1 - 3
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrUnderflow, "PutMany", 1)
	assert.True(t, isPoisoned(r2))
	assert.False(t, r2.TryGetMany(4), "a poisoned count is never incremented")
	assert.Len(t, log.all(), 1, "no further report")
	assert.Equal(t, 1, rel.calls(), "only r released")
}

// Item 15. SwitchToAtomic(cb) on an already-atomic Ref: cb runs once,
// before return.
func TestEdge15_SwitchToAtomicOnAtomic(t *testing.T) {
	r := New(nil, InitAtomic())
	calls := 0
	r.SwitchToAtomic(func() { calls++ })
	assert.Equal(t, 1, calls)
	assert.False(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
}

// Item 16. Two SwitchToAtomic calls. Sequential: both confirms run, first
// then second. Kernel: a second call made while the first is in flight
// waits for the first's confirmation. Ours (documented on SwitchToAtomic):
// the switch itself is done before either confirm runs, and confirms run
// without the lock, so the second call does not wait for the first confirm;
// each confirm still runs exactly once, before its own call returns.
func TestEdge16_TwoSwitchToAtomic(t *testing.T) {
	t.Run("sequential", func(t *testing.T) {
		r := New(nil, AllowReinit())
		var order []int
		r.SwitchToAtomic(func() { order = append(order, 1) })
		r.SwitchToAtomic(func() { order = append(order, 2) })
		assert.Equal(t, []int{1, 2}, order)
	})
	t.Run("overlapping", func(t *testing.T) {
		r := New(nil, AllowReinit())
		inFirst := make(chan struct{})
		unblock := make(chan struct{})
		var first, second atomic.Int32
		firstDone := make(chan struct{})
		go func() {
			r.SwitchToAtomic(func() { first.Add(1); close(inFirst); <-unblock })
			close(firstDone)
		}()
		<-inFirst
		secondDone := make(chan struct{})
		go func() {
			r.SwitchToAtomic(func() { second.Add(1) })
			close(secondDone)
		}()
		select {
		case <-secondDone:
		case <-time.After(10 * time.Second):
			t.Fatal("second SwitchToAtomic waited for the first confirm")
		}
		assert.Equal(t, int32(1), second.Load())
		close(unblock)
		<-firstDone
		assert.Equal(t, int32(1), first.Load())
		assert.False(t, r.IsPercpu())
	})
}

// Item 17. SwitchToAtomicSync returns in atomic mode; then the Put that
// drops the last ref releases synchronously.
func TestEdge17_SwitchToAtomicSyncThenLastPutReleases(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	r.Get()
	r.SwitchToAtomicSync()
	assert.False(t, r.IsPercpu())
	assert.False(t, r.IsDying())
	assert.Equal(t, int64(2), r.Read())
	assert.False(t, r.Put())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
}

// Item 18. AllowReinit: atomic/per-CPU cycles under concurrent Get/Put
// traffic: never released, exact count, no misuse.
func TestEdge18_SwitchCyclesUnderTraffic(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), AllowReinit(), log.option())
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			held := 0
			for i := 0; !stop.Load(); i++ {
				if i%3 == 2 && held > 0 {
					r.Put()
					held--
				} else {
					r.Get()
					held++
				}
				if held > 50 {
					r.PutMany(held)
					held = 0
				}
			}
			if held > 0 {
				r.PutMany(held)
			}
		}()
	}
	for i := 0; i < 500; i++ {
		r.SwitchToAtomic(nil)
		r.SwitchToPercpu()
	}
	stop.Store(true)
	wg.Wait()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	assert.Equal(t, 0, rel.calls())
	assert.Empty(t, log.all())
}

// Item 19. Without AllowReinit the shards are freed at the first switch to
// atomic. Kernel: the Ref then reports dying, SwitchToPercpu is a no-op and
// a Reinit is a BUG_ON. Ours: IsDying stays false after a plain switch (the
// Ref is not killed); SwitchToPercpu reports ErrNoReinit and changes nothing
// (not even the stickiness of the switch), on the live Ref and on a dying
// one alike; Reinit of a sticky atomic Ref needs no shards, and Reinit of
// one that would go per-CPU reports ErrNoReinit and changes nothing.
func TestEdge19_NoAllowReinitFreesShards(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), log.option())
	r.SwitchToAtomicSync()
	assert.Nil(t, r.cells.Base, "white-box: shards freed")
	assert.False(t, r.IsDying())
	r.SwitchToPercpu()
	assert.False(t, r.IsPercpu())
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrNoReinit, "SwitchToPercpu", 1)

	r.Get()
	r.Kill()
	r.SwitchToPercpu()
	require.Len(t, log.all(), 2, "SwitchToPercpu on a dying Ref is reported too")
	semRequireMisuse(t, log.all()[1], ErrNoReinit, "SwitchToPercpu", 1)
	assert.False(t, r.IsPercpu())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())

	// The refused SwitchToPercpus left the Ref sticky atomic (from
	// SwitchToAtomicSync), so Reinit needs no shards: a new life, atomic.
	r.Reinit()
	require.Len(t, log.all(), 2)
	assert.Equal(t, int64(1), r.Read())
	assert.False(t, r.IsDying())
	assert.False(t, r.IsPercpu())
	r.Kill()
	assert.Equal(t, 2, rel.calls())

	r2 := New(nil)
	r2.Kill()
	me := semCatch(r2.Reinit)
	require.NotNil(t, me, "default: Reinit without shards panics")
	assert.ErrorIs(t, me, ErrNoReinit)
}

// Item 20. Reinit while count != 0. Kernel: WARN, and it still adds a ref.
// Ours: ErrNotZero and nothing changes.
func TestEdge20_ReinitWhileNonZero(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(*Ref)
		count  int64
		dying  bool
		percpu bool
	}{
		{"live-percpu", func(r *Ref) {}, 1, false, true},
		{"live-atomic", func(r *Ref) { r.SwitchToAtomicSync() }, 1, false, false},
		{"dying", func(r *Ref) { r.GetMany(2); r.Kill() }, 2, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rel semRel
			var log semLog
			r := New(rel.fn(), AllowReinit(), log.option())
			tc.setup(r)
			r.Reinit()
			require.Len(t, log.all(), 1)
			semRequireMisuse(t, log.all()[0], ErrNotZero, "Reinit", tc.count)
			assert.Equal(t, tc.count, r.Read())
			assert.Equal(t, tc.dying, r.IsDying())
			assert.Equal(t, tc.percpu, r.IsPercpu())
			assert.Less(t, r.Read(), int64(MaxCount), "not poisoned")
			assert.Equal(t, 0, rel.calls())
		})
	}
}

// Item 21. Resurrect on a killed Ref with count > 0: live again, initial
// ref restored, release never runs; a later Kill plus balanced Puts
// releases exactly once.
func TestEdge21_ResurrectKilledRef(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), AllowReinit(), log.option())
	r.GetMany(3)
	r.Kill()
	r.Put()
	r.Resurrect()
	assert.False(t, r.IsDying())
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(3), r.Read())
	r.PutMany(2)
	assert.Equal(t, 0, rel.calls())
	r.Kill()
	assert.Equal(t, 1, rel.calls())
	assert.Empty(t, log.all())
}

// Item 22. Resurrect on a live Ref. Kernel: WARN, and one ref is added.
// Ours: ErrLive and nothing changes.
func TestEdge22_ResurrectLiveRef(t *testing.T) {
	var log semLog
	r := New(nil, AllowReinit(), log.option())
	r.Get()
	r.Resurrect()
	require.Len(t, log.all(), 1)
	var me *MisuseError
	require.ErrorAs(t, log.all()[0], &me)
	assert.ErrorIs(t, me, ErrLive)
	assert.Equal(t, "Resurrect", me.Op)
	assert.Equal(t, int64(2), me.Count, "the count found, without the bias")
	assert.Equal(t, int64(2), r.Read(), "no ref added")
	assert.True(t, r.IsPercpu())

	r2 := New(nil, InitAtomic(), log.option())
	r2.Resurrect()
	require.Len(t, log.all(), 2)
	semRequireMisuse(t, log.all()[1], ErrLive, "Resurrect", 1)
	assert.Equal(t, int64(1), r2.Read())
	assert.False(t, r2.IsDying())
}

// Item 23. The owner Puts its initial ref in per-CPU mode: nothing happens
// then; the later Kill folds a count <= 0. Kernel: WARN and a leak. Ours:
// ErrUnderflow from Kill, the count is poisoned, release never runs.
func TestEdge23_PercpuUnderflowFoundAtKill(t *testing.T) {
	t.Run("handler", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), log.option())
		assert.False(t, r.Put())
		assert.Empty(t, log.all(), "not detectable on the per-CPU fast path")
		assert.Equal(t, 0, rel.calls())
		r.Kill()
		require.Len(t, log.all(), 1)
		semRequireMisuse(t, log.all()[0], ErrUnderflow, "Kill", 0)
		assert.Equal(t, 0, rel.calls(), "release never runs")
		assert.True(t, isPoisoned(r))
		assert.Equal(t, int64(MaxCount), r.Read(), "poisoned without release: leaked")
		assert.False(t, r.IsZero())
		assert.False(t, semClosed(r.Done()))
	})
	t.Run("default-panics", func(t *testing.T) {
		var rel semRel
		r := New(rel.fn())
		r.Put()
		me := semCatch(r.Kill)
		require.NotNil(t, me)
		semRequireMisuse(t, me, ErrUnderflow, "Kill", 0)
		assert.Equal(t, 0, rel.calls())
	})
}

// Item 24. An extra Put in atomic mode past zero. Kernel: silent, negative
// count, no second release. Ours: ErrUnderflow naming the count found (0),
// poisoned, no second release, and every later Put reported too.
func TestEdge24_ExtraPutPastZero(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), InitAtomic(), log.option())
	assert.True(t, r.Put())
	assert.False(t, r.Put())
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrUnderflow, "Put", 0)
	assert.Equal(t, 1, rel.calls())
	assert.True(t, isPoisoned(r))
	assert.Equal(t, int64(0), r.Read(), "released: reads as 0")
	assert.True(t, r.IsZero())
	assert.False(t, r.Put())
	require.Len(t, log.all(), 2)
	semRequirePoisoned(t, log.all()[1], ErrUnderflow, "Put")
	assert.Equal(t, int64(poison), r.count.Load(), "a poisoned count never moves")
}

// Item 25. A Get in atomic mode at count 0 (after release). Kernel: silent
// increment. Ours: ErrReleased naming the count found (0), poisoned, and the
// matching Put is reported too and does not release again.
func TestEdge25_GetAtZero(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), InitAtomic(), log.option())
	assert.True(t, r.Put())
	r.Get()
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrReleased, "Get", 0)
	assert.False(t, r.Put())
	require.Len(t, log.all(), 2)
	semRequirePoisoned(t, log.all()[1], ErrUnderflow, "Put")
	assert.Equal(t, 1, rel.calls())
	assert.True(t, isPoisoned(r))
	assert.Equal(t, int64(poison), r.count.Load(), "a poisoned count never moves")
}

// Item 26. IsZero is false in per-CPU mode; after Exit it reports the count
// stored at exit.
func TestEdge26_IsZeroPercpuAndAfterExit(t *testing.T) {
	r := New(nil)
	assert.False(t, r.IsZero())
	r.Get()
	r.Exit()
	assert.False(t, r.IsZero())
	assert.Equal(t, int64(2), r.Read())

	r2 := New(nil)
	r2.Kill()
	r2.Exit()
	assert.True(t, r2.IsZero())
	assert.Equal(t, int64(0), r2.Read())
}

// Item 27. IsZero can be true before release has returned.
func TestEdge27_IsZeroBeforeReleaseReturns(t *testing.T) {
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

// Item 28. Exit while a switch is in flight (kernel: WARN); on a
// never-initialised Ref (no-op); twice (second is a no-op). Ours: switches
// are synchronous, so the only moment "in flight" is the confirm callback.
// Exit from a SwitchToAtomic confirm just exits. Exit from a KillAndConfirm
// confirm exits, and Kill still drops the initial reference (it began
// before the Exit), so release runs: the result of Kill, then Exit.
func TestEdge28_Exit(t *testing.T) {
	t.Run("in-switch-confirm", func(t *testing.T) {
		var log semLog
		r := New(nil, log.option())
		r.SwitchToAtomic(r.Exit)
		assert.Empty(t, log.all())
		assert.Equal(t, int64(1), r.Read())
		r.Get()
		require.Len(t, log.all(), 1)
		assert.ErrorIs(t, log.all()[0], ErrExited)
	})
	t.Run("in-kill-confirm", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), log.option())
		r.KillAndConfirm(r.Exit)
		assert.Empty(t, log.all(), "Kill, once begun, happens whole")
		assert.Equal(t, 1, rel.calls())
		assert.Equal(t, int64(0), r.Read())
	})
	t.Run("zero-value", func(t *testing.T) {
		var r Ref
		assert.NotPanics(t, r.Exit)
		assert.False(t, r.IsPercpu())
		me := semCatch(r.Get)
		require.NotNil(t, me, "the zero Ref is still not initialised")
		assert.ErrorIs(t, me, ErrUninitialized)
	})
	t.Run("twice", func(t *testing.T) {
		var log semLog
		r := New(nil, log.option())
		r.Get()
		r.Exit()
		r.Exit()
		assert.Empty(t, log.all())
		assert.Equal(t, int64(2), r.Read())
	})
}

// Item 29. release calls Exit. Kernel: fine from the RCU confirm path,
// deadlocks if release ran synchronously under the switch lock. Ours: no
// lock is held while release runs, so Exit from a release that runs
// synchronously inside Kill (and inside Put) works.
func TestEdge29_ExitFromRelease(t *testing.T) {
	for _, via := range []string{"Kill", "Put"} {
		t.Run(via, func(t *testing.T) {
			var rel semRel
			var r *Ref
			r = New(func() { rel.n.Add(1); r.Exit() })
			if via == "Put" {
				r.Get()
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				r.Kill()
				if via == "Put" {
					assert.True(t, r.Put())
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("deadlock: Exit from release")
			}
			assert.Equal(t, 1, rel.calls())
			assert.True(t, r.IsZero())
			assert.Nil(t, r.cells.Base, "white-box: exited")
			assert.True(t, semClosed(r.Done()))
		})
	}
}

// Item 30. Underflow accounting. Kernel: the WARN prints once, extra dumps
// for the first 3. Ours: the first misuse that breaks the count is reported
// and poisons it; every later Put and Get on the poisoned count is reported
// too, with the cause of the poisoning, and leaves the count where it is (so
// none can reach zero).
func TestEdge30_UnderflowReportedEveryTime(t *testing.T) {
	t.Run("atomic-puts", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), InitAtomic(), log.option())
		r.Put()
		for i := 0; i < 5; i++ {
			assert.False(t, r.Put())
		}
		require.Len(t, log.all(), 5)
		semRequireMisuse(t, log.all()[0], ErrUnderflow, "Put", 0)
		for _, err := range log.all()[1:] {
			semRequirePoisoned(t, err, ErrUnderflow, "Put")
		}
		assert.Equal(t, 1, rel.calls())
		assert.Equal(t, int64(poison), r.count.Load())
	})
	t.Run("gets-at-zero", func(t *testing.T) {
		var log semLog
		r := New(nil, InitAtomic(), log.option())
		r.Put()
		for i := 0; i < 5; i++ {
			r.Get()
		}
		require.Len(t, log.all(), 5)
		semRequireMisuse(t, log.all()[0], ErrReleased, "Get", 0)
		for _, err := range log.all()[1:] {
			semRequirePoisoned(t, err, ErrReleased, "Get")
		}
		assert.Equal(t, int64(poison), r.count.Load())
	})
	t.Run("percpu-then-kill", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), log.option())
		r.PutMany(3)
		r.Kill()
		for i := 0; i < 5; i++ {
			r.Put()
		}
		require.Len(t, log.all(), 6)
		semRequireMisuse(t, log.all()[0], ErrUnderflow, "Kill", -2)
		for _, err := range log.all()[1:] {
			semRequirePoisoned(t, err, ErrUnderflow, "Put")
		}
		assert.Equal(t, 0, rel.calls())
		assert.Equal(t, int64(poison), r.count.Load())
	})
}

// Item 31. M goroutines hammer TryGetLive/Put while one calls
// KillAndConfirm(cb). After cb no TryGetLive succeeds; release runs once,
// after the last successful getter's Put.
func TestEdge31_TryGetLiveRaceWithKill(t *testing.T) {
	for round := 0; round < 10; round++ {
		var rel semRel
		var held atomic.Int64
		var early atomic.Bool
		r := New(func() {
			rel.n.Add(1)
			if held.Load() != 0 {
				early.Store(true)
			}
		})
		var confirmed atomic.Bool
		var afterConfirm atomic.Int64
		var stop atomic.Bool
		var wg sync.WaitGroup
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					after := confirmed.Load()
					if r.TryGetLive() {
						held.Add(1)
						if after {
							afterConfirm.Add(1)
						}
						runtime.Gosched()
						held.Add(-1)
						r.Put()
					}
				}
			}()
		}
		time.Sleep(time.Millisecond)
		r.KillAndConfirm(func() { confirmed.Store(true) })
		time.Sleep(time.Millisecond)
		stop.Store(true)
		wg.Wait()
		assert.Zero(t, afterConfirm.Load(), "TryGetLive succeeded after confirm")
		assert.Equal(t, 1, rel.calls())
		assert.False(t, early.Load(), "release ran while a getter held a ref")
	}
}

// semLocker is a sync.Locker that counts Lock calls and can run a hook
// just before taking the lock (to model a Get racing with the lock).
type semLocker struct {
	mu     sync.Mutex
	locks  int
	before func()
}

func (l *semLocker) Lock() {
	if l.before != nil {
		l.before()
		l.before = nil
	}
	l.mu.Lock()
	l.locks++
}

func (l *semLocker) Unlock() { l.mu.Unlock() }

// Item 41. dec_and_lock / kref_put_mutex. From 1: true, release with the
// lock held. Kernel: returns holding the lock and release unlocks it. Ours
// (documented on PutLocked): PutLocked unlocks after release returns. From
// 2: false, lock not taken. A Get racing in while the lock is being taken:
// false, lock released.
func TestEdge41_PutLocked(t *testing.T) {
	t.Run("from-1", func(t *testing.T) {
		var l semLocker
		held := false
		r := New(func() { held = !l.mu.TryLock() }, InitAtomic())
		assert.True(t, r.PutLocked(&l))
		assert.True(t, held, "release ran with the lock held")
		assert.Equal(t, 1, l.locks)
		assert.True(t, l.mu.TryLock(), "unlocked after PutLocked returned")
	})
	t.Run("from-2", func(t *testing.T) {
		var l semLocker
		var rel semRel
		r := New(rel.fn(), InitAtomic())
		r.Get()
		assert.False(t, r.PutLocked(&l))
		assert.Equal(t, 0, l.locks, "lock not taken when refs remain")
		assert.Equal(t, int64(1), r.Read())
		assert.Equal(t, 0, rel.calls())
	})
	t.Run("get-while-locking", func(t *testing.T) {
		var l semLocker
		var rel semRel
		r := New(rel.fn(), InitAtomic())
		l.before = r.Get // another holder appears while we take the lock
		assert.False(t, r.PutLocked(&l))
		assert.Equal(t, 1, l.locks)
		assert.True(t, l.mu.TryLock(), "lock released")
		l.mu.Unlock()
		assert.Equal(t, int64(1), r.Read())
		assert.Equal(t, 0, rel.calls())
		assert.True(t, r.PutLocked(&l))
		assert.Equal(t, 1, rel.calls())
	})
}

// Item 42. kref_put returns true exactly once across concurrent putters;
// the mutex variant runs release with the mutex held.
func TestEdge42_KrefPutExactlyOnce(t *testing.T) {
	for _, locked := range []bool{false, true} {
		name := "Put"
		if locked {
			name = "PutLocked"
		}
		t.Run(name, func(t *testing.T) {
			const n = 32
			var mu sync.Mutex
			var rel semRel
			var heldInRelease atomic.Bool
			r := New(func() { rel.n.Add(1); heldInRelease.Store(!mu.TryLock()) })
			r.GetMany(n)
			r.Kill()
			var trues atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ok bool
					if locked {
						ok = r.PutLocked(&mu)
					} else {
						ok = r.Put()
					}
					if ok {
						trues.Add(1)
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, int32(1), trues.Load())
			assert.Equal(t, 1, rel.calls())
			if locked {
				assert.True(t, heldInRelease.Load())
				assert.True(t, mu.TryLock(), "PutLocked left mu unlocked")
			} else {
				assert.False(t, heldInRelease.Load(), "plain Put takes no lock")
			}
		})
	}
}

// Item 43. kref_get_unless_zero at 0: false, count unchanged, no report,
// not poisoned (Reinit still works).
func TestEdge43_GetUnlessZeroAtZero(t *testing.T) {
	var log semLog
	r := New(nil, InitAtomic(), log.option())
	assert.True(t, r.Put())
	assert.False(t, r.GetUnlessZero())
	assert.Equal(t, int64(0), r.Read())
	assert.True(t, r.IsZero())
	assert.Empty(t, log.all())
	r.Reinit()
	assert.Equal(t, int64(1), r.Read())
	assert.Empty(t, log.all())
}
