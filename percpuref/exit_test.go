package percpuref

// Exit: the end of a Ref's use, from anywhere, once or more.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExitKeepsFinalCountAndFreesCells(t *testing.T) {
	var log semLog
	r := New(nil, log.option())
	r.GetMany(3)
	r.Exit()
	assert.Equal(t, int64(4), r.Read())
	assert.False(t, r.IsPercpu())
	assert.False(t, r.IsZero())
	assert.Nil(t, r.cells.Base, "white-box: Exit frees the cells")
	r.Get()
	assert.Equal(t, int64(4), r.Read(), "no more Gets after Exit")
	require.Len(t, log.all(), 1)
	assert.ErrorIs(t, log.all()[0], ErrExited)
}

// Kernel edge case `exit` (docs/semantics.md): a second Exit, and Exit of
// a Ref never set up, do nothing.
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

// Kernel edge case `exit` (docs/semantics.md): Exit while a switch is in
// flight (the kernel WARNs); on a never-initialised Ref (no-op); twice
// (second is a no-op). Switches are synchronous here, so the only moment
// "in flight" is the confirm callback. Exit from a SwitchToAtomic confirm
// just exits. Exit from a KillAndConfirm confirm exits, and Kill still
// drops the initial reference (it began before the Exit), so release runs:
// the result of Kill, then Exit.
func TestExitFromConfirmOnZeroRefAndTwice(t *testing.T) {
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

// Kernel edge case `exit-from-release` (docs/semantics.md): release calls
// Exit. In the kernel that is fine from the RCU confirm path and deadlocks
// if release runs under the switch lock; here no lock is held while release
// runs, so Exit from a release that runs synchronously inside Kill (and
// inside Put) works, and the Ref takes no more operations.
func TestExitFromReleaseInsideKillOrPut(t *testing.T) {
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
			assert.Nil(t, r.cells.Base, "white-box: Exit from release freed the cells")
			assert.True(t, semClosed(r.Done()))
			me := semCatch(func() { r.Get() })
			require.NotNil(t, me)
			assert.ErrorIs(t, me, ErrExited)
		})
	}
}
