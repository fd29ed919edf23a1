package percpuref

// Reinit: a new life for a Ref whose count reached zero.

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// Kernel edge case `reinit-nonzero` (docs/semantics.md): the kernel WARNs
// and still adds a reference; here Reinit while the count is not zero, in
// every mode, is reported as ErrNotZero and nothing changes.
func TestReinitWhileReferencesAreHeldIsReported(t *testing.T) {
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
