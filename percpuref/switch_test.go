package percpuref

// SwitchToAtomic, SwitchToAtomicSync and SwitchToPercpu: the modes, their
// stickiness, AllowReinit, and switches under traffic.

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// Kernel edge case `switch-on-atomic` (docs/semantics.md):
// SwitchToAtomic(cb) on an already-atomic Ref: cb runs once, before return.
func TestSwitchToAtomicOnAtomicRefRunsConfirmOnce(t *testing.T) {
	r := New(nil, InitAtomic())
	calls := 0
	r.SwitchToAtomic(func() { calls++ })
	assert.Equal(t, 1, calls)
	assert.False(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
}

// Kernel edge case `two-switches` (docs/semantics.md): two SwitchToAtomic
// calls. Sequential: both confirms run, first then second. The kernel's
// second call, made while the first is in flight, waits for the first's
// confirmation; here (as SwitchToAtomic documents) the switch is done
// before either confirm runs, and confirms run without the lock, so the
// second call does not wait for the first confirm; each confirm still runs
// exactly once, before its own call returns.
func TestSwitchToAtomicTwiceRunsEachConfirm(t *testing.T) {
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

// Kernel edge case `switch-sync` (docs/semantics.md): SwitchToAtomicSync
// returns in atomic mode, live, with the count exact; then the Put that
// drops the last ref releases synchronously. With AllowReinit (the cells
// kept) as without.
func TestSwitchToAtomicSyncThenLastPutReleases(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"default", nil},
		{"AllowReinit", []Option{AllowReinit()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rel semRel
			r := New(rel.fn(), tc.opts...)
			r.Get()
			r.SwitchToAtomicSync()
			assert.False(t, r.IsPercpu())
			assert.False(t, r.IsDying())
			assert.Equal(t, int64(2), r.Read())
			assert.False(t, r.Put())
			assert.True(t, r.Put())
			assert.Equal(t, 1, rel.calls())
		})
	}
}

// Kernel edge case `sticky-atomic` (docs/semantics.md): InitAtomic, kill to
// 0, Reinit: still atomic; SwitchToPercpu: per-CPU.
func TestInitAtomicIsStickyAcrossKillAndReinit(t *testing.T) {
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

// Kernel edge case `sticky-atomic` (docs/semantics.md): SwitchToAtomic,
// kill to 0, Reinit: still atomic; SwitchToPercpu: per-CPU.
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

// Kernel edge case `sticky-atomic` (docs/semantics.md): Resurrect keeps a
// switched Ref atomic, until SwitchToPercpu.
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

func TestSwitchToPercpuOnPercpuIsNoop(t *testing.T) {
	var log semLog
	r := New(nil, log.option())
	r.SwitchToPercpu()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	assert.Empty(t, log.all())
}

// Kernel edge case `percpu-on-dying` (docs/semantics.md): SwitchToPercpu
// on a dying Ref leaves the mode, clears the stickiness (of InitAtomic or
// SwitchToAtomic), and the later Reinit goes per-CPU.
func TestSwitchToPercpuOnDyingOnlyClearsStickiness(t *testing.T) {
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
			assert.False(t, r.IsPercpu(), "dying stays atomic")
			assert.Equal(t, int64(1), r.Read())
			assert.True(t, r.Put())
			r.Reinit()
			assert.True(t, r.IsPercpu(), "stickiness was cleared: Reinit goes per-CPU")
		})
	}
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

func TestNewAllowReinitKeepsCellsAcrossSwitch(t *testing.T) {
	r := New(nil, AllowReinit())
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	r.SwitchToAtomicSync()
	assert.False(t, r.IsPercpu())
	r.SwitchToPercpu()
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
}

// Kernel edge case `no-allow-reinit` (docs/semantics.md): without
// AllowReinit the cells are given back at the first switch to atomic. The
// kernel's ref then reports dying, its SwitchToPercpu is a no-op and a
// Reinit is a BUG_ON. Here IsDying stays false after a plain switch (the
// Ref is not killed); SwitchToPercpu reports ErrNoReinit and changes
// nothing (not even the stickiness of the switch), on the live Ref and on a
// dying one alike; Reinit of a sticky atomic Ref needs no cells, and Reinit
// of one that would go per-CPU reports ErrNoReinit and changes nothing.
func TestSwitchWithoutAllowReinitFreesTheCells(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), log.option())
	r.SwitchToAtomicSync()
	assert.Nil(t, r.cells.Base, "white-box: cells freed")
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
	// SwitchToAtomicSync), so Reinit needs no cells: a new life, atomic.
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
	require.NotNil(t, me, "default: Reinit without cells panics")
	assert.ErrorIs(t, me, ErrNoReinit)
}

// Kernel edge case `many-across-switch` (docs/semantics.md): GetMany and
// PutMany with k > 1 spanning mode switches keep the total.
func TestGetManyPutManyAcrossModeSwitches(t *testing.T) {
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
		semHammer(4, func(stopped func() bool) {
			for k := 2; !stopped(); k = k%9 + 2 {
				r.GetMany(k)
				r.GetMany(k + 1)
				r.PutMany(k)
				r.PutMany(k + 1)
			}
		}, func() {
			for i := 0; i < 200; i++ {
				r.SwitchToAtomicSync()
				r.SwitchToPercpu()
			}
		})
		assert.Equal(t, int64(1), r.Read())
		assert.Equal(t, 0, rel.calls())
		r.Kill()
		assert.Equal(t, 1, rel.calls())
		assert.Empty(t, log.all())
	})
}

// Kernel edge case `switch-cycles` (docs/semantics.md): with AllowReinit,
// atomic/per-CPU cycles under concurrent Get/Put traffic: never released,
// exact count, no misuse.
func TestSwitchCyclesUnderTrafficKeepTheCountExact(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), AllowReinit(), log.option())
	semHammer(4, func(stopped func() bool) {
		held := 0
		for i := 0; !stopped(); i++ {
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
	}, func() {
		for i := 0; i < 500; i++ {
			r.SwitchToAtomic(nil)
			r.SwitchToPercpu()
		}
	})
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	assert.Equal(t, 0, rel.calls())
	assert.Empty(t, log.all())
}

// Kernel edge case `switch-cycles` (docs/semantics.md), from two switching
// goroutines against every counting operation.
func TestConcurrentControlOpsRaceFastPath(t *testing.T) {
	var log semLog
	var rel semRel
	r := New(rel.fn(), AllowReinit(), log.option())
	semHammer(4, func(stopped func() bool) {
		for !stopped() {
			r.Get()
			r.GetMany(3)
			if r.TryGetLive() {
				r.Put()
			}
			r.PutMany(3)
			r.Put()
		}
	}, func() {
		// Two switchers, and the counting goes on for at least 20ms.
		var sw sync.WaitGroup
		for g := 0; g < 2; g++ {
			sw.Add(1)
			go func() {
				defer sw.Done()
				for i := 0; i < 300; i++ {
					r.SwitchToAtomicSync()
					r.SwitchToPercpu()
					_ = r.Read()
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		sw.Wait()
	})
	assert.Empty(t, log.all())
	assert.Equal(t, 0, rel.calls())
	assert.Equal(t, int64(1), r.Read())
	r.Kill()
	assert.Equal(t, 1, rel.calls())
}
