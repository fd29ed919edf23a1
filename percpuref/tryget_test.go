package percpuref

// TryGet, GetUnlessZero, TryGetMany and TryGetLive: when each succeeds, in
// each mode, and against a concurrent Kill.

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTryGetFamilyPercpuAlwaysSucceeds(t *testing.T) {
	r := New(nil)
	assert.True(t, r.TryGet())
	assert.True(t, r.GetUnlessZero())
	assert.True(t, r.TryGetMany(3))
	assert.True(t, r.TryGetLive())
	assert.Equal(t, int64(7), r.Read())
	assert.True(t, r.IsPercpu())
}

// Kernel edge case `tryget-live-atomic` (docs/semantics.md), with the rest
// of the family: on an atomic Ref that is not dying, each try succeeds while
// the count is above zero, and fails at zero without changing it.
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

// Kernel edge case `tryget-live-atomic` (docs/semantics.md): TryGetLive on
// an InitAtomic Ref that is not dying succeeds iff the count is above 0.
func TestTryGetLiveOnLiveAtomicRefSucceedsUntilZero(t *testing.T) {
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

// Kernel edge case `tryget-many-at-zero` (docs/semantics.md): TryGetMany in
// atomic mode at 0 fails and leaves the count. The kernel's succeeds on the
// negative count an underflow leaves; here the underflow poisons the count
// (pinned at poison, far below 0), and TryGetMany fails, as on a count of
// zero, without a further report.
func TestTryGetManyFailsAtZeroAndOnPoisonedCount(t *testing.T) {
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

// Kernel edge case `get-unless-zero` (docs/semantics.md): GetUnlessZero at
// 0 fails, leaves the count, is not reported and does not poison the count
// (Reinit still works).
func TestGetUnlessZeroAtZeroFailsQuietly(t *testing.T) {
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

// Kernel edge case `tryget-after-kill` (docs/semantics.md): on a dying Ref
// every try but TryGetLive succeeds while references remain, and all fail
// once it is released, with no report.
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

// Kernel edge case `tryget-after-kill` (docs/semantics.md): TryGet after
// Kill with count > 0 succeeds; TryGetLive fails. The kernel's TryGetLive
// may still succeed between Kill and the confirm; here it fails once the
// Ref is marked dying, which is before confirm runs, so there is no window
// to tolerate.
func TestTryGetSucceedsAfterKillButTryGetLiveFailsInConfirm(t *testing.T) {
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

// Kernel edge case `tryget-live-races-kill` (docs/semantics.md): while
// goroutines take live references, no TryGetLive that starts after Kill
// returned succeeds.
func TestTryGetLiveFailsOnceKillHasReturned(t *testing.T) {
	var rel semRel
	r := New(rel.fn())
	var killed atomic.Bool
	var bad, good atomic.Int64
	semHammer(4, func(stopped func() bool) {
		for !stopped() {
			after := killed.Load()
			if r.TryGetLive() {
				if after {
					bad.Add(1)
				}
				good.Add(1)
				r.Put()
			}
		}
	}, func() {
		time.Sleep(2 * time.Millisecond)
		r.Get() // keep it alive until the getters stop
		r.Kill()
		killed.Store(true)
		time.Sleep(2 * time.Millisecond)
	})
	assert.Zero(t, bad.Load(), "TryGetLive succeeded after Kill returned")
	assert.Equal(t, 0, rel.calls())
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.Put())
	assert.Equal(t, 1, rel.calls())
	t.Logf("successful TryGetLive before Kill: %d", good.Load())
}

// Kernel edge case `tryget-live-races-kill` (docs/semantics.md): goroutines
// hammer TryGetLive/Put while one calls KillAndConfirm(cb). After cb no
// TryGetLive succeeds; release runs once, after the last successful
// getter's Put.
func TestTryGetLiveFailsAfterConfirmUnderRace(t *testing.T) {
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
		semHammer(6, func(stopped func() bool) {
			for !stopped() {
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
		}, func() {
			time.Sleep(time.Millisecond)
			r.KillAndConfirm(func() { confirmed.Store(true) })
			time.Sleep(time.Millisecond)
		})
		assert.Zero(t, afterConfirm.Load(), "TryGetLive succeeded after confirm")
		assert.Equal(t, 1, rel.calls())
		assert.False(t, early.Load(), "release ran while a getter held a ref")
	}
}
