package percpuref

// The misuse table of docs/semantics.md, row by row, in every mode where the row applies. Each
// case runs twice: with the default (the misuse panics with a *MisuseError)
// and with WithMisuseHandler (the handler gets exactly that error, the count
// is poisoned where the misuse broke it, and release never runs because of
// a misuse). Release calls are counted in both runs.
//
// The saturation rows set the central count directly (white-box): reaching
// 2^62 through the API takes 2^30 GetMany calls.

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A misuseMode builds a Ref in one state.
type misuseMode struct {
	name     string
	mk       func(rel func(), o ...Option) *Ref
	releases int   // release calls made while building it
	count    int64 // its count once built
}

// mmNew makes a Ref with opts after o; Eager comes first, so that the
// modes count on cells as they did before Lazy became the default, and a
// Lazy among opts overrides it.
func mmNew(opts ...Option) func(func(), ...Option) *Ref {
	return func(rel func(), o ...Option) *Ref {
		return New(rel, append(append([]Option{Eager()}, o...), opts...)...)
	}
}

func mmThen(mk func(func(), ...Option) *Ref, steps ...func(*Ref)) func(func(), ...Option) *Ref {
	return func(rel func(), o ...Option) *Ref {
		r := mk(rel, o...)
		for _, s := range steps {
			s(r)
		}
		return r
	}
}

var (
	mmGet     = func(r *Ref) { r.Get() }
	mmPut     = func(r *Ref) { r.Put() }
	mmKill    = func(r *Ref) { r.Kill() }
	mmSwitch  = func(r *Ref) { r.SwitchToAtomicSync() }
	mmExit    = func(r *Ref) { r.Exit() }
	mmRes     = func(r *Ref) { r.Resurrect() }
	mmReinit  = func(r *Ref) { r.Reinit() }
	mmSatCent = func(r *Ref) { r.count.Store(MaxCount) } // white-box, atomic mode
	// White-box, per-CPU mode with a count of 1: the count becomes MaxCount
	// (C also holds minus the leftovers of a reused slot, so add, not store).
	mmSatBias = func(r *Ref) { r.count.Add(MaxCount - 1) }
)

var (
	mPercpu          = misuseMode{"percpu", mmNew(AllowReinit()), 0, 1}
	mResurrected     = misuseMode{"percpu-after-Resurrect", mmThen(mmNew(AllowReinit()), mmGet, mmKill, mmRes), 0, 2}
	mReinited        = misuseMode{"percpu-after-Reinit", mmThen(mmNew(AllowReinit()), mmKill, mmReinit), 1, 1}
	mAtomicInit      = misuseMode{"atomic-InitAtomic", mmNew(InitAtomic()), 0, 1}
	mAtomicSwitched  = misuseMode{"atomic-SwitchToAtomic", mmThen(mmNew(AllowReinit()), mmSwitch), 0, 1}
	mDying           = misuseMode{"dying", mmThen(mmNew(AllowReinit()), mmGet, mmKill), 0, 1}
	mInitDead        = misuseMode{"InitDead", mmNew(InitDead()), 0, 0}
	mRelInit         = misuseMode{"released-InitAtomic", mmThen(mmNew(InitAtomic()), mmPut), 1, 0}
	mRelSwitched     = misuseMode{"released-SwitchToAtomic", mmThen(mmNew(AllowReinit()), mmSwitch, mmPut), 1, 0}
	mRelDying        = misuseMode{"released-dying", mmThen(mmNew(AllowReinit()), mmKill), 1, 0}
	mNoReSwitched    = misuseMode{"noreinit-switched", mmThen(mmNew(), mmSwitch), 0, 1}
	mNoReDying       = misuseMode{"noreinit-dying", mmThen(mmNew(), mmGet, mmKill), 0, 1}
	mNoReReleased    = misuseMode{"noreinit-released", mmThen(mmNew(), mmKill), 1, 0}
	mExitedPercpu    = misuseMode{"exited-percpu", mmThen(mmNew(), mmExit), 0, 1}
	mExitedAtomic    = misuseMode{"exited-atomic", mmThen(mmNew(InitAtomic()), mmExit), 0, 1}
	mExitedDying     = misuseMode{"exited-dying", mmThen(mmNew(), mmGet, mmKill, mmExit), 0, 1}
	mExitedReleased  = misuseMode{"exited-released", mmThen(mmNew(), mmKill, mmExit), 1, 0}
	mSatAtomic       = misuseMode{"saturating-atomic", mmThen(mmNew(InitAtomic()), mmSatCent), 0, MaxCount}
	mSatDying        = misuseMode{"saturating-dying", mmThen(mmNew(), mmGet, mmKill, mmSatCent), 0, MaxCount}
	mSatPercpu       = misuseMode{"saturating-percpu", mmThen(mmNew(AllowReinit()), mmSatBias), 0, MaxCount}
	misuseExitModes  = []misuseMode{mExitedPercpu, mExitedAtomic, mExitedDying, mExitedReleased}
	misuseReleased   = []misuseMode{mRelInit, mRelSwitched, mRelDying, mInitDead}
	misuseLiveAtomic = []misuseMode{mAtomicInit, mAtomicSwitched, mDying}
)

type misuseCase struct {
	row      string // the row of the misuse table in docs/semantics.md
	mode     misuseMode
	op       string // what the case does, for the test name
	do       func(r *Ref, mu *sync.Mutex)
	err      error
	opName   string
	count    int64
	poisoned bool // the count is pinned after the misuse
	exits    bool // the case ends in Exit, so follow-up Puts are misuse too
}

func (c misuseCase) name() string { return c.row + "/" + c.mode.name + "/" + c.op }

// misuseOps is every counting or control operation, for the rows that apply
// to all of them (after Exit, before Init), with the Op name it reports.
var misuseOps = []struct {
	label, op string
	do        func(r *Ref, mu *sync.Mutex)
}{
	{"Get", "Get", func(r *Ref, _ *sync.Mutex) { r.Get() }},
	{"GetMany", "GetMany", func(r *Ref, _ *sync.Mutex) { r.GetMany(2) }},
	{"Put", "Put", func(r *Ref, _ *sync.Mutex) { mustFalse(r.Put()) }},
	{"PutMany", "PutMany", func(r *Ref, _ *sync.Mutex) { mustFalse(r.PutMany(2)) }},
	{"PutLocked", "PutLocked", func(r *Ref, mu *sync.Mutex) { mustFalse(r.PutLocked(mu)) }},
	{"TryGet", "TryGet", func(r *Ref, _ *sync.Mutex) { mustFalse(r.TryGet()) }},
	{"GetUnlessZero", "TryGet", func(r *Ref, _ *sync.Mutex) { mustFalse(r.GetUnlessZero()) }},
	{"TryGetMany", "TryGetMany", func(r *Ref, _ *sync.Mutex) { mustFalse(r.TryGetMany(2)) }},
	{"TryGetLive", "TryGetLive", func(r *Ref, _ *sync.Mutex) { mustFalse(r.TryGetLive()) }},
	{"Kill", "Kill", func(r *Ref, _ *sync.Mutex) { r.Kill() }},
	{"KillAndConfirm", "Kill", func(r *Ref, _ *sync.Mutex) { r.KillAndConfirm(misuseNoConfirm) }},
	{"SwitchToAtomic", "SwitchToAtomic", func(r *Ref, _ *sync.Mutex) { r.SwitchToAtomic(misuseNoConfirm) }},
	{"SwitchToAtomicSync", "SwitchToAtomic", func(r *Ref, _ *sync.Mutex) { r.SwitchToAtomicSync() }},
	{"SwitchToPercpu", "SwitchToPercpu", func(r *Ref, _ *sync.Mutex) { r.SwitchToPercpu() }},
	{"Resurrect", "Resurrect", func(r *Ref, _ *sync.Mutex) { r.Resurrect() }},
	{"Reinit", "Reinit", func(r *Ref, _ *sync.Mutex) { r.Reinit() }},
}

// mustFalse panics (with a non-MisuseError, which semCatch re-raises) if a
// misused call reports success.
func mustFalse(b bool) {
	if b {
		panic("a misused call reported success")
	}
}

func misuseNoConfirm() { panic("confirm ran for a misused call") }

func misuseCases() []misuseCase {
	var cs []misuseCase
	add := func(c misuseCase) { cs = append(cs, c) }

	// Put/PutMany below zero in atomic mode: at that Put.
	for _, m := range misuseLiveAtomic {
		add(misuseCase{row: "put-below-zero", mode: m, op: "PutMany(3)",
			do:  func(r *Ref, _ *sync.Mutex) { mustFalse(r.PutMany(3)) },
			err: ErrUnderflow, opName: "PutMany", count: m.count, poisoned: true})
	}
	for _, m := range misuseReleased {
		add(misuseCase{row: "put-below-zero", mode: m, op: "Put",
			do:  func(r *Ref, _ *sync.Mutex) { mustFalse(r.Put()) },
			err: ErrUnderflow, opName: "Put", count: 0, poisoned: true})
		add(misuseCase{row: "put-below-zero", mode: m, op: "PutMany(2)",
			do:  func(r *Ref, _ *sync.Mutex) { mustFalse(r.PutMany(2)) },
			err: ErrUnderflow, opName: "PutMany", count: 0, poisoned: true})
		add(misuseCase{row: "put-below-zero", mode: m, op: "PutLocked",
			do:  func(r *Ref, mu *sync.Mutex) { mustFalse(r.PutLocked(mu)) },
			err: ErrUnderflow, opName: "PutLocked", count: 0, poisoned: true})
	}

	// Get/GetMany on a count of 0: at that Get, in atomic mode. The cause
	// is true: released, or (InitDead) never made live.
	for _, m := range misuseReleased {
		cause := ErrReleased
		if m.name == mInitDead.name {
			cause = ErrNeverLive
		}
		add(misuseCase{row: "get-at-zero", mode: m, op: "Get",
			do:  func(r *Ref, _ *sync.Mutex) { r.Get() },
			err: cause, opName: "Get", count: 0, poisoned: true})
		add(misuseCase{row: "get-at-zero", mode: m, op: "GetMany(3)",
			do:  func(r *Ref, _ *sync.Mutex) { r.GetMany(3) },
			err: cause, opName: "GetMany", count: 0, poisoned: true})
	}

	// Net underflow in per-CPU mode: at the next switch to atomic, the
	// folded count is <= 0.
	for _, m := range []misuseMode{mPercpu, mResurrected, mReinited} {
		n := int(m.count) + 1
		for _, sw := range []struct {
			label, op string
			do        func(*Ref)
			exits     bool
		}{
			{"SwitchToAtomicSync", "SwitchToAtomic", func(r *Ref) { r.SwitchToAtomicSync() }, false},
			{"Kill", "Kill", func(r *Ref) { r.Kill() }, false},
			{"Exit", "Exit", func(r *Ref) { r.Exit() }, true},
		} {
			add(misuseCase{row: "percpu-underflow", mode: m, op: fmt.Sprintf("PutMany(%d)+%s", n, sw.label),
				do: func(r *Ref, _ *sync.Mutex) {
					mustFalse(r.PutMany(n)) // not detectable here
					sw.do(r)
				},
				err: ErrUnderflow, opName: sw.op, count: -1, poisoned: true, exits: sw.exits})
		}
		add(misuseCase{row: "percpu-underflow", mode: m, op: "put-all+Kill",
			do: func(r *Ref, _ *sync.Mutex) {
				mustFalse(r.PutMany(int(m.count)))
				r.Kill()
			},
			err: ErrUnderflow, opName: "Kill", count: 0, poisoned: true})
	}

	// Kill on a dying Ref: at once; no extra reference is dropped.
	for _, m := range []misuseMode{mDying, mRelDying, mInitDead, mNoReDying} {
		add(misuseCase{row: "kill-dying", mode: m, op: "Kill",
			do:  func(r *Ref, _ *sync.Mutex) { r.Kill() },
			err: ErrKilled, opName: "Kill", count: m.count})
		add(misuseCase{row: "kill-dying", mode: m, op: "KillAndConfirm",
			do:  func(r *Ref, _ *sync.Mutex) { r.KillAndConfirm(misuseNoConfirm) },
			err: ErrKilled, opName: "Kill", count: m.count})
	}

	// Resurrect on a live Ref; Reinit while the count is not 0: at once;
	// nothing changes.
	for _, m := range []misuseMode{mPercpu, mResurrected, mAtomicInit, mAtomicSwitched, mNoReSwitched} {
		add(misuseCase{row: "resurrect-live", mode: m, op: "Resurrect",
			do:  func(r *Ref, _ *sync.Mutex) { r.Resurrect() },
			err: ErrLive, opName: "Resurrect", count: m.count})
	}
	for _, m := range []misuseMode{mPercpu, mResurrected, mReinited, mAtomicInit, mAtomicSwitched, mDying, mNoReSwitched} {
		add(misuseCase{row: "reinit-nonzero", mode: m, op: "Reinit",
			do:  func(r *Ref, _ *sync.Mutex) { r.Reinit() },
			err: ErrNotZero, opName: "Reinit", count: m.count})
	}
	// Resurrect after release (ErrReleased), or of an InitDead Ref that was
	// never live (ErrNeverLive); nothing changes.
	add(misuseCase{row: "resurrect-released", mode: mRelDying, op: "Resurrect",
		do:  func(r *Ref, _ *sync.Mutex) { r.Resurrect() },
		err: ErrReleased, opName: "Resurrect", count: 0})
	add(misuseCase{row: "resurrect-released", mode: mInitDead, op: "Resurrect",
		do:  func(r *Ref, _ *sync.Mutex) { r.Resurrect() },
		err: ErrNeverLive, opName: "Resurrect", count: 0})

	// SwitchToPercpu/Reinit/Resurrect after the cells were freed: at once;
	// stays atomic.
	add(misuseCase{row: "cells-freed", mode: mNoReSwitched, op: "SwitchToPercpu",
		do:  func(r *Ref, _ *sync.Mutex) { r.SwitchToPercpu() },
		err: ErrNoReinit, opName: "SwitchToPercpu", count: 1})
	add(misuseCase{row: "cells-freed", mode: mNoReDying, op: "Resurrect",
		do:  func(r *Ref, _ *sync.Mutex) { r.Resurrect() },
		err: ErrNoReinit, opName: "Resurrect", count: 1})
	add(misuseCase{row: "cells-freed", mode: mNoReReleased, op: "Reinit",
		do:  func(r *Ref, _ *sync.Mutex) { r.Reinit() },
		err: ErrNoReinit, opName: "Reinit", count: 0})

	// Any operation after Exit: at once.
	for _, m := range misuseExitModes {
		for _, o := range misuseOps {
			add(misuseCase{row: "after-exit", mode: m, op: o.label, do: o.do,
				err: ErrExited, opName: o.op, count: m.count, exits: true})
		}
	}

	// n <= 0, or absurdly large, for the *Many calls: at once. Count is n.
	for _, m := range []misuseMode{mPercpu, mAtomicInit, mDying, mRelDying, mExitedPercpu} {
		// MaxDelta+1 is too large on 64-bit platforms and wraps to a
		// negative n on 32-bit ones: invalid either way.
		over := MaxDelta
		over++
		for _, n := range []int{0, -1, over, -MaxDelta - 1} {
			add(misuseCase{row: "bad-delta", mode: m, op: fmt.Sprintf("GetMany(%d)", n),
				do:  func(r *Ref, _ *sync.Mutex) { r.GetMany(n) },
				err: ErrBadDelta, opName: "GetMany", count: int64(n), exits: m.name == mExitedPercpu.name})
			add(misuseCase{row: "bad-delta", mode: m, op: fmt.Sprintf("PutMany(%d)", n),
				do:  func(r *Ref, _ *sync.Mutex) { mustFalse(r.PutMany(n)) },
				err: ErrBadDelta, opName: "PutMany", count: int64(n), exits: m.name == mExitedPercpu.name})
			add(misuseCase{row: "bad-delta", mode: m, op: fmt.Sprintf("TryGetMany(%d)", n),
				do:  func(r *Ref, _ *sync.Mutex) { mustFalse(r.TryGetMany(n)) },
				err: ErrBadDelta, opName: "TryGetMany", count: int64(n), exits: m.name == mExitedPercpu.name})
		}
	}

	// A count that would pass 2^62: saturates and reports, never wraps.
	for _, m := range []misuseMode{mSatAtomic, mSatDying} {
		add(misuseCase{row: "saturate", mode: m, op: "Get",
			do:  func(r *Ref, _ *sync.Mutex) { r.Get() },
			err: ErrSaturated, opName: "Get", count: MaxCount, poisoned: true})
		add(misuseCase{row: "saturate", mode: m, op: "GetMany(5)",
			do:  func(r *Ref, _ *sync.Mutex) { r.GetMany(5) },
			err: ErrSaturated, opName: "GetMany", count: MaxCount, poisoned: true})
		add(misuseCase{row: "saturate", mode: m, op: "TryGet",
			do:  func(r *Ref, _ *sync.Mutex) { r.TryGet() },
			err: ErrSaturated, opName: "TryGet", count: MaxCount, poisoned: true})
		add(misuseCase{row: "saturate", mode: m, op: "TryGetMany(3)",
			do:  func(r *Ref, _ *sync.Mutex) { r.TryGetMany(3) },
			err: ErrSaturated, opName: "TryGetMany", count: MaxCount, poisoned: true})
	}
	add(misuseCase{row: "saturate", mode: mSatAtomic, op: "TryGetLive",
		do:  func(r *Ref, _ *sync.Mutex) { r.TryGetLive() },
		err: ErrSaturated, opName: "TryGetLive", count: MaxCount, poisoned: true})
	for _, sw := range []struct {
		label, op string
		do        func(*Ref)
	}{
		{"Kill", "Kill", func(r *Ref) { r.Kill() }},
		{"SwitchToAtomicSync", "SwitchToAtomic", func(r *Ref) { r.SwitchToAtomicSync() }},
	} {
		// Per-CPU mode: the Gets go to a cell; the fold finds the excess.
		add(misuseCase{row: "saturate", mode: mSatPercpu, op: "Get+" + sw.label,
			do:  func(r *Ref, _ *sync.Mutex) { r.GetMany(2); sw.do(r) },
			err: ErrSaturated, opName: sw.op, count: MaxCount + 2, poisoned: true})
	}
	return cs
}

// misuseSnap is what "nothing changes" compares.
type misuseSnap struct {
	count               int64
	percpu, dying, zero bool
}

func misuseSnapOf(r *Ref) misuseSnap {
	return misuseSnap{r.Read(), r.IsPercpu(), r.IsDying(), r.IsZero()}
}

func TestMisuseTableDefaultPanics(t *testing.T) {
	for _, c := range misuseCases() {
		t.Run(c.name(), func(t *testing.T) {
			var rel semRel
			r := c.mode.mk(rel.fn())
			require.Equal(t, c.mode.releases, rel.calls(), "setup")
			before := misuseSnapOf(r)
			var mu sync.Mutex
			me := semCatch(func() { c.do(r, &mu) })
			require.NotNil(t, me, "no panic")
			var err error = me
			assert.ErrorIs(t, err, c.err)
			assert.Equal(t, c.opName, me.Op)
			assert.Contains(t, me.Error(), c.opName)
			assert.Equal(t, c.count, me.Count)
			want := fmt.Sprintf("(count %d)", c.count)
			if c.err == ErrBadDelta {
				want = fmt.Sprintf("(n %d)", c.count) // the rejected n, not a count
			}
			assert.Contains(t, me.Error(), want)
			assert.Equal(t, c.mode.releases, rel.calls(), "a misuse ran release")
			assert.True(t, mu.TryLock(), "PutLocked left the caller's mutex locked")
			if !c.poisoned {
				assert.Equal(t, before, misuseSnapOf(r), "nothing changes")
			} else {
				assert.True(t, isPoisoned(r))
			}
		})
	}
}

func TestMisuseTableWithHandler(t *testing.T) {
	for _, c := range misuseCases() {
		t.Run(c.name(), func(t *testing.T) {
			var rel semRel
			var log semLog
			r := c.mode.mk(rel.fn(), log.option())
			require.Equal(t, c.mode.releases, rel.calls(), "setup")
			require.Empty(t, log.all(), "setup")
			before := misuseSnapOf(r)
			var mu sync.Mutex
			assert.NotPanics(t, func() { c.do(r, &mu) })
			errs := log.all()
			require.Len(t, errs, 1, "exactly one report")
			var me *MisuseError
			require.ErrorAs(t, errs[0], &me)
			assert.Equal(t, &MisuseError{Op: c.opName, Count: c.count, Err: c.err}, me)
			assert.Equal(t, c.mode.releases, rel.calls(), "a misuse ran release")
			assert.True(t, mu.TryLock(), "PutLocked left the caller's mutex locked")
			mu.Unlock()
			if !c.poisoned {
				assert.Equal(t, before, misuseSnapOf(r), "nothing changes")
				return
			}
			// Poisoned: pinned far from zero, never released again, and
			// every later Get and Put reported, changing nothing.
			assert.True(t, isPoisoned(r))
			assert.Equal(t, r.cells.State.Load()&stReleased != 0, r.IsZero(), "IsZero is true exactly when released")
			assert.False(t, semClosed(r.Done()) && c.mode.releases == 0, "Done closed without a release")
			if c.exits {
				return
			}
			assert.Equal(t, int64(poison), r.count.Load())
			for i := 0; i < 3; i++ {
				assert.False(t, r.Put())
			}
			r.PutMany(MaxDelta)
			r.Get()
			r.GetMany(MaxDelta)
			assert.False(t, r.TryGet(), "a poisoned count is never incremented")
			assert.False(t, r.TryGetLive())
			assert.Equal(t, int64(poison), r.count.Load(), "a poisoned count never moves")
			assert.Equal(t, c.mode.releases, rel.calls(), "a poisoned Ref released")
			require.Len(t, log.all(), 7, "every Get and Put on a poisoned count is reported")
			for _, err := range log.all()[1:] {
				var pe *MisuseError
				require.ErrorAs(t, err, &pe)
				assert.True(t, pe.Poisoned, "%v", err)
			}
			if !r.IsDying() {
				r.Kill()
				assert.Equal(t, c.mode.releases, rel.calls(), "Kill released a poisoned Ref")
			}
		})
	}
}

// A zero Ref (never Init) reports ErrUninitialized for every operation. It
// has no handler, so only the default applies. Exit does nothing.
func TestMisuseUninitialized(t *testing.T) {
	for _, o := range misuseOps {
		t.Run(o.label, func(t *testing.T) {
			var r Ref
			var mu sync.Mutex
			me := semCatch(func() { o.do(&r, &mu) })
			require.NotNil(t, me)
			semRequireMisuse(t, me, ErrUninitialized, o.op, 0)
			assert.True(t, mu.TryLock())
		})
	}
	var r Ref
	assert.NotPanics(t, r.Exit)
}

// Kernel edge case `saturate` (docs/semantics.md): the count just below
// saturation is fine: reports only start past MaxCount (white-box setup);
// then the count is pinned, every later Get is reported, and Reinit is
// refused.
func TestMisuseSaturationBoundary(t *testing.T) {
	var log semLog
	r := New(nil, InitAtomic(), log.option())
	r.count.Store(MaxCount - 1)
	r.Get()
	assert.Equal(t, int64(MaxCount), r.Read())
	assert.Empty(t, log.all())
	r.Get()
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrSaturated, "Get", MaxCount)
	for i := 0; i < 10; i++ {
		r.GetMany(MaxDelta)
	}
	require.Len(t, log.all(), 11, "every Get on a saturated count is reported")
	semRequirePoisoned(t, log.all()[10], ErrSaturated, "GetMany")
	assert.Equal(t, int64(MaxCount), r.Read(), "pinned, never wrapped")
	assert.Equal(t, int64(poison), r.count.Load())
	r.Reinit()
	require.Len(t, log.all(), 12)
	semRequirePoisoned(t, log.all()[11], ErrSaturated, "Reinit")
}

// Concurrent misuse: many goroutines Put past zero at once. Exactly one Put
// takes the count to 0 and releases; the extra Puts underflow and poison it
// (racing underflows may each report), and release never runs again.
func TestMisuseConcurrentExtraPutsReleaseOnce(t *testing.T) {
	for round := 0; round < 20; round++ {
		var rel semRel
		var log semLog
		r := New(rel.fn(), InitAtomic(), log.option())
		r.GetMany(7) // count 8
		var wg sync.WaitGroup
		for i := 0; i < 16; i++ { // 16 Puts for 8 refs
			wg.Add(1)
			go func() { defer wg.Done(); r.Put() }()
		}
		wg.Wait()
		assert.Equal(t, 1, rel.calls())
		assert.Len(t, log.all(), 8, "each of the 8 extra Puts is reported")
		for _, err := range log.all() {
			assert.ErrorIs(t, err, ErrUnderflow)
		}
		assert.True(t, isPoisoned(r))
		assert.Equal(t, int64(poison), r.count.Load())
	}
}

// A poisoned Ref never goes back to per-CPU mode (its count is not a count
// any more): every control operation on it is reported and changes nothing,
// and a Ref poisoned by an underflow found at a switch (references may
// still be held) refuses Reinit.
func TestMisusePoisonedStaysAtomic(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), AllowReinit(), log.option())
	r.PutMany(2)
	r.SwitchToAtomicSync()
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrUnderflow, "SwitchToAtomic", -1)
	r.SwitchToPercpu()
	assert.False(t, r.IsPercpu())
	require.Len(t, log.all(), 2)
	semRequirePoisoned(t, log.all()[1], ErrUnderflow, "SwitchToPercpu")
	r.Kill()
	assert.False(t, r.IsDying(), "a refused Kill changes nothing")
	require.Len(t, log.all(), 3)
	semRequirePoisoned(t, log.all()[2], ErrUnderflow, "Kill")
	assert.Equal(t, 0, rel.calls())
	r.Resurrect()
	assert.False(t, r.IsDying(), "a refused Resurrect changes nothing")
	require.Len(t, log.all(), 4)
	semRequirePoisoned(t, log.all()[3], ErrUnderflow, "Resurrect")
	r.Reinit()
	require.Len(t, log.all(), 5)
	semRequirePoisoned(t, log.all()[4], ErrUnderflow, "Reinit")
	assert.Equal(t, 0, rel.calls())
	assert.Equal(t, int64(poison), r.count.Load())
}

// A Ref whose release has run stays released, whatever misuse follows:
// every TryGet fails, every Get and Put is reported (each time, with a true
// cause), the count never moves, release never runs again, and IsZero, Read
// and Done agree. Each path that can release: Kill of a per-CPU Ref (slots,
// padded shards, Lazy), KillAll, and the last Put of an InitAtomic Ref.
func TestMisuseReleasedIsTerminal(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		end  func(r *Ref)
	}{
		{"kill", nil, func(r *Ref) { r.Kill() }},
		{"kill-shards", []Option{WithShards(4)}, func(r *Ref) { r.Kill() }},
		{"kill-lazy", []Option{Lazy()}, func(r *Ref) { r.Kill() }},
		{"kill-allowreinit", []Option{AllowReinit()}, func(r *Ref) { r.Kill() }},
		{"killall", []Option{Eager()}, func(r *Ref) { KillAll(r) }},
		{"initatomic-put", []Option{InitAtomic()}, func(r *Ref) { r.Put() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rel semRel
			var log semLog
			r := New(rel.fn(), append(tc.opts, log.option())...)
			tc.end(r)
			require.Equal(t, 1, rel.calls())
			require.Empty(t, log.all())

			assert.False(t, r.Put())
			require.Len(t, log.all(), 1)
			semRequireMisuse(t, log.all()[0], ErrUnderflow, "Put", 0)
			for i := 0; i < 5; i++ {
				r.Get()
			}
			for i := 0; i < 20; i++ {
				assert.False(t, r.Put())
			}
			r.GetMany(3)
			assert.False(t, r.PutMany(3))
			var mu sync.Mutex
			assert.False(t, r.PutLocked(&mu))
			assert.False(t, r.TryGet())
			assert.False(t, r.GetUnlessZero())
			assert.False(t, r.TryGetMany(2))
			assert.False(t, r.TryGetLive())
			require.Len(t, log.all(), 1+5+20+3, "every Get and Put reported")
			for _, err := range log.all()[1:6] {
				semRequirePoisoned(t, err, ErrReleased, "Get")
			}
			for _, err := range log.all()[6:26] {
				semRequirePoisoned(t, err, ErrUnderflow, "Put")
			}
			assert.Equal(t, int64(poison), r.count.Load(), "a poisoned count never moves")
			assert.Equal(t, 1, rel.calls())
			assert.True(t, r.IsZero())
			assert.Equal(t, int64(0), r.Read())
			assert.True(t, semClosed(r.Done()))

			n := len(log.all())
			r.Resurrect()
			r.SwitchToPercpu()
			require.Len(t, log.all(), n+2)
			semRequirePoisoned(t, log.all()[n], ErrReleased, "Resurrect")
			assert.False(t, r.IsPercpu())
			assert.Equal(t, 1, rel.calls())
		})
	}
}

// TryGetLive on a released Ref that was never killed fails, after misuse
// too (an InitAtomic Ref released by its last Put, then a Get).
func TestMisuseTryGetLiveAfterRelease(t *testing.T) {
	var log semLog
	r := New(nil, InitAtomic(), log.option())
	require.True(t, r.Put())
	r.Get()
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrReleased, "Get", 0)
	assert.False(t, r.TryGetLive())
	assert.False(t, r.TryGet())
	r.Kill()
	require.Len(t, log.all(), 2)
	semRequirePoisoned(t, log.all()[1], ErrReleased, "Kill")
	assert.False(t, r.IsDying(), "a refused Kill changes nothing")
}

// A second zero in one life: the count comes back to 0 after the release
// was claimed (a Get that loaded the state before the claim adds 0 to 1,
// and a Put takes it back to 0 before the Get's poison lands). The Put
// that finds it must not claim the release again: it is reported as
// ErrReleased, naming the count it found (1), and the count is poisoned.
// The interleaving is forced by calling runRelease, the step the Put takes
// on reaching 0, a second time.
func TestMisuseSecondZeroDoesNotReleaseAgain(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), InitAtomic(), log.option())
	require.True(t, r.Put())
	require.Equal(t, 1, rel.calls())
	require.False(t, r.runRelease("Put"), "a second zero releases nothing")
	assert.Equal(t, 1, rel.calls(), "release ran once")
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrReleased, "Put", 1)
	assert.True(t, isPoisoned(r))
}

// Gets and Puts on a released Ref at once are each reported: none of them
// moves the count before it holds the Ref's lock, so none can find a count
// of 1 that another's add left there before its poison landed (usable in
// central.go). With the lock held by the test, a Get and a GetMany from other
// goroutines leave the count at 0 however long they run; once it is let go,
// the first to take it names the count and poisons, the other reports
// Poisoned. (Each sends its report after it lets go of the lock, so the log
// may hold them in either order.) Then the same from many goroutines, in
// every mode that releases.
func TestMisuseRacingUsesOfReleasedRefAllReported(t *testing.T) {
	var log semLog
	r := New(nil, log.option())
	r.Kill()
	require.True(t, r.IsZero())
	m := r.lock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.Get() }()
	go func() { defer wg.Done(); r.GetMany(2) }()
	for range 1000 {
		runtime.Gosched()
		require.Equal(t, int64(0), r.count.Load(), "a use after release added to the count")
	}
	m.Unlock()
	wg.Wait()
	require.Len(t, log.all(), 2)
	first, second := log.all()[0].(*MisuseError), log.all()[1].(*MisuseError)
	if first.Poisoned {
		first, second = second, first
	}
	assert.False(t, first.Poisoned, "one of the two found the count unpoisoned")
	assert.Equal(t, int64(0), first.Count)
	assert.True(t, second.Poisoned, "the other found it poisoned")
	assert.Equal(t, int64(poison), r.count.Load())

	for _, opts := range [][]Option{nil, {Eager()}, {WithShards(2)}, {InitAtomic()}} {
		for round := range 50 {
			var log semLog
			r := New(nil, append(opts, log.option())...)
			r.Kill()
			r.Put() // the first use after release
			n := len(log.all())
			const goroutines, each = 4, 16
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						if (g+i)%2 == 0 {
							r.Get()
						} else {
							r.PutMany(1 + i%3)
						}
						runtime.Gosched()
					}
				}()
			}
			wg.Wait()
			require.Len(t, log.all(), n+goroutines*each, "opts %d round %d: every use after release reported", len(opts), round)
			require.Equal(t, int64(poison), r.count.Load())
			require.True(t, r.IsZero())
		}
	}
}

// A pooled object whose Ref was misused after its release starts a new life
// with Reinit (the caller asserts that no holder remains), as grpc-go's
// buffers do when they come back from a sync.Pool.
func TestMisuseReinitAfterPoisonedRelease(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), AllowReinit(), log.option())
	for life := 1; life <= 3; life++ {
		r.Get()
		r.Kill()
		require.True(t, r.Put())
		require.Equal(t, life, rel.calls())
		r.Put() // misuse: poisons the released Ref
		require.True(t, isPoisoned(r))
		r.Reinit()
		require.False(t, isPoisoned(r), "life %d", life)
		assert.True(t, r.IsPercpu())
		assert.Equal(t, int64(1), r.Read())
		assert.True(t, r.TryGetLive())
		r.Put()
	}
	require.Len(t, log.all(), 3, "one report per life, for its extra Put")
	r.Kill()
	assert.Equal(t, 4, rel.calls())
}

// Init on a live Ref is reported and changes nothing: the holder's reference
// still counts, and release runs once, after it is dropped. Init on a
// released Ref starts a new life.
func TestMisuseInitOnLiveRef(t *testing.T) {
	var rel semRel
	var log semLog
	r := New(rel.fn(), log.option())
	r.Get()
	r.Init(rel.fn())
	require.Len(t, log.all(), 1)
	semRequireMisuse(t, log.all()[0], ErrLive, "Init", 2)
	r.Kill()
	assert.Equal(t, 0, rel.calls(), "release ran while a reference was held")
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())

	r.Init(rel.fn(), log.option())
	assert.Len(t, log.all(), 1, "Init on a released Ref is allowed")
	assert.True(t, r.IsPercpu())
	assert.Equal(t, int64(1), r.Read())
	r.Kill()
	assert.Equal(t, 2, rel.calls())
}

// A Ref that was never set up has count 0 and is zero, and says so in
// agreement (its operations report ErrUninitialized: TestMisuseUninitialized).
func TestMisuseZeroRefIsZero(t *testing.T) {
	var r Ref
	assert.True(t, r.IsZero())
	assert.Equal(t, int64(0), r.Read())
}

// SetMisuseHandler serves every Ref without a handler of its own, with no
// record per Ref; a Ref's own handler wins; nil restores the panic.
func TestSetMisuseHandler(t *testing.T) {
	var all semLog
	SetMisuseHandler(all.handle)
	defer SetMisuseHandler(nil)
	refs := make([]*Ref, 10)
	for i := range refs {
		refs[i] = New(nil)
		assert.Zero(t, refs[i].hook, "no record for a Ref without release or handler")
		refs[i].Kill()
		assert.NotPanics(t, func() { refs[i].Put() })
	}
	require.Len(t, all.all(), 10)
	for _, err := range all.all() {
		assert.ErrorIs(t, err, ErrUnderflow)
	}
	var own semLog
	r := New(nil, own.option())
	r.Kill()
	r.Put()
	assert.Len(t, own.all(), 1, "the Ref's own handler wins")
	assert.Len(t, all.all(), 10)

	SetMisuseHandler(nil)
	r2 := New(nil)
	r2.Kill()
	me := semCatch(func() { r2.Put() })
	require.NotNil(t, me, "nil restores the panic")
	assert.ErrorIs(t, me, ErrUnderflow)
}

// An Exit that comes while a Kill runs (from its confirm, or from another
// goroutine) leaves the Ref as one order of the two calls would: Kill then
// Exit (the initial reference dropped, release run if it was the last), or
// Exit then Kill (Kill reported as ErrExited, nothing dropped). Never a
// dying Ref that kept its initial reference without a report.
func TestMisuseExitDuringKill(t *testing.T) {
	t.Run("from-confirm", func(t *testing.T) {
		var rel semRel
		var log semLog
		r := New(rel.fn(), log.option())
		r.KillAndConfirm(func() { r.Exit() })
		assert.Empty(t, log.all())
		assert.Equal(t, 1, rel.calls(), "Kill happened whole: release ran")
		assert.Equal(t, int64(0), r.Read())
		assert.True(t, r.IsZero())
	})
	t.Run("racing", func(t *testing.T) {
		for i := 0; i < 3000; i++ {
			var rel semRel
			var log semLog
			r := New(rel.fn(), log.option())
			start := make(chan struct{})
			done := make(chan struct{})
			go func() {
				<-start
				r.Exit()
				close(done)
			}()
			close(start)
			r.Kill()
			<-done
			switch len(log.all()) {
			case 0: // Kill, then Exit
				require.Equal(t, 1, rel.calls(), "round %d", i)
				require.Equal(t, int64(0), r.Read())
			case 1: // Exit, then Kill
				require.ErrorIs(t, log.all()[0], ErrExited, "round %d", i)
				require.Equal(t, 0, rel.calls())
				require.Equal(t, int64(1), r.Read())
			default:
				t.Fatalf("round %d: reports %v", i, log.all())
			}
		}
	})
}

// Two Gets that pass MaxCount at once are both reported: the second finds
// the count already poisoned by the first, whose poison erased its add
// (white-box: the two saturation checks in the order of that race).
func TestMisuseRacingSaturationsBothReported(t *testing.T) {
	var log semLog
	r := New(nil, InitAtomic(), log.option())
	r.count.Store(MaxCount + 2) // both Gets have added
	r.outOfRange("Get", true, MaxCount+1, MaxCount+2)
	r.outOfRange("Get", true, MaxCount, MaxCount+1)
	require.Len(t, log.all(), 2)
	semRequireMisuse(t, log.all()[0], ErrSaturated, "Get", MaxCount+1)
	semRequirePoisoned(t, log.all()[1], ErrSaturated, "Get")
	assert.Equal(t, int64(poison), r.count.Load())

	// And for real, from many goroutines at once: one report per Get past
	// MaxCount, the count pinned.
	var log2 semLog
	r2 := New(nil, InitAtomic(), log2.option())
	r2.count.Store(MaxCount)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); r2.Get() }()
	}
	wg.Wait()
	assert.Len(t, log2.all(), 8, "every Get past MaxCount is reported")
	assert.Equal(t, int64(poison), r2.count.Load())
}
