package percpuref

// Kill and KillAndConfirm: the switch, confirm, the drop of the initial
// reference, and the release that follows.

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Kernel edge case `kill-releases` (docs/semantics.md): the kernel runs
// release after a grace period; Kill is synchronous, so release has run
// (once) when Kill returns.
func TestKillOfANewRefReleasesBeforeItReturns(t *testing.T) {
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

// Kernel edge case `release-after-last-put` (docs/semantics.md): N
// goroutines Get, Kill, N Puts: release only after the last Put, with the
// count checked at every step.
func TestKillThenPutsReleaseOnlyAtTheLastPut(t *testing.T) {
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

// Kernel edge case `kill-confirm-order` (docs/semantics.md): with no other
// reference, confirm, then release, both inside KillAndConfirm.
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

// Kernel edge case `init-atomic-kill-confirm` (docs/semantics.md):
// InitAtomic, KillAndConfirm(cb) with no other refs: cb, then release, both
// inside Kill.
func TestKillAndConfirmOnInitAtomicRunsConfirmThenRelease(t *testing.T) {
	var events []string
	r := New(func() { events = append(events, "release") }, InitAtomic())
	r.KillAndConfirm(func() { events = append(events, "confirm") })
	events = append(events, "returned")
	assert.Equal(t, []string{"confirm", "release", "returned"}, events)
}

// Kernel edge case `kill-confirm-order` (docs/semantics.md): confirm finds
// the Ref dying and atomic, with the initial reference still counted;
// release waits for the other references.
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

// Kernel edge case `kill-confirm-order` (docs/semantics.md): KillAndConfirm
// with extra refs: cb runs once, after the switch; release only after the
// remaining Puts. (With no extra refs, release right after cb:
// TestKillAndConfirmConfirmBeforeReleaseInsideKill.)
func TestKillAndConfirmWithExtraRefsReleasesAfterTheirPuts(t *testing.T) {
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
}

// Kernel edge case `kill-twice` (docs/semantics.md): the kernel WARNs and
// drops one more reference; here the second Kill is reported as ErrKilled,
// drops nothing, and its confirm does not run.
func TestKillTwiceIsReportedAndDropsNothing(t *testing.T) {
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

// Kernel edge case `kill-twice` (docs/semantics.md), from three goroutines
// at once: one Kill drops the initial reference, the others report.
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

// An InitAtomic Ref's owner drops its reference with Put, and a Kill comes
// between that Put's add, which took the count to zero, and its claim of
// release (testHookZero): Kill's drop of the initial reference finds the
// count below zero. It poisons the count before it lets go of the Ref's
// lock, and reports the underflow with the count it found; the Put then
// runs release, once. Kill and KillAll share the drop.
func TestKillDropBelowZeroPoisonsAndReports(t *testing.T) {
	for name, kill := range map[string]func(*Ref){
		"Kill":    (*Ref).Kill,
		"KillAll": func(r *Ref) { KillAll(r) },
	} {
		t.Run(name, func(t *testing.T) {
			var rel semRel
			var log semLog
			var r *Ref
			poisonedAtReport := false
			r = New(rel.fn(), InitAtomic(), WithMisuseHandler(func(err error) {
				poisonedAtReport = isPoisoned(r)
				log.handle(err)
			}))
			testHookZero = func() { testHookZero = nil; kill(r) }
			defer func() { testHookZero = nil }()
			assert.True(t, r.Put(), "the owner's Put took the count to zero and released")
			require.Len(t, log.all(), 1)
			semRequireMisuse(t, log.all()[0], ErrUnderflow, "Kill", 0)
			assert.True(t, poisonedAtReport, "poisoned before the report")
			assert.True(t, isPoisoned(r))
			assert.Equal(t, 1, rel.calls())
			assert.True(t, r.IsZero())
		})
	}
}
