package percpuref

// New and Init: the state a Ref starts in, with each option.

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// Kernel edge case `init-dead` (docs/semantics.md): an InitDead Ref is
// dying at zero and no TryGet succeeds; Reinit makes it live at 1, per-CPU
// (atomic if InitAtomic was also given).
func TestInitDeadIsDyingAtZeroUntilReinit(t *testing.T) {
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
