package percpuref

// Release and confirm may call back into the Ref: no lock of the Ref is held
// while they run. misuse_reentry_test.go has the full table of operations
// from every callback.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

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
