package percpuref

// Resurrect: a dying Ref made live again while references remain.

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Kernel edge case `resurrect-killed` (docs/semantics.md): Resurrect of a
// killed Ref restores the initial reference and per-CPU mode.
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

// Kernel edge case `resurrect-killed` (docs/semantics.md): Resurrect on a
// killed Ref whose count is still above 0 after some Puts: live again,
// initial ref restored, release never runs; a later Kill plus balanced Puts
// releases exactly once.
func TestResurrectAfterPutsRestoresTheInitialReference(t *testing.T) {
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

// Kernel edge case `resurrect-live` (docs/semantics.md): the kernel WARNs
// and adds a reference; here Resurrect of a live Ref, per-CPU or atomic, is
// reported as ErrLive and nothing changes.
func TestResurrectOfLiveRefIsReported(t *testing.T) {
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
