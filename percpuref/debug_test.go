//go:build percpurefdebug

package percpuref

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nextLine returns the line after the caller's.
func nextLine() int {
	_, _, line, _ := runtime.Caller(1)
	return line + 1
}

// thisFile is this test file's path, as the sites report it.
func thisFile() string {
	_, file, _, _ := runtime.Caller(0)
	return file
}

func siteAt(line int) string { return fmt.Sprintf("%s:%d", thisFile(), line) }

// A Put after release names the Put that released; the error is otherwise
// exactly what it is without the tag.
func TestDebugMisuseNamesReleaseSite(t *testing.T) {
	var got []error
	r := New(nil, WithMisuseHandler(func(err error) { got = append(got, err) }))
	r.Get()
	r.Kill()
	relLine := nextLine()
	require.True(t, r.Put())
	assert.False(t, r.Put()) // one too many
	require.Len(t, got, 1)
	var me *MisuseError
	require.ErrorAs(t, got[0], &me)
	assert.Equal(t, siteAt(relLine), me.ReleaseSite())
	assert.Contains(t, me.Error(), "Ref released at "+siteAt(relLine), "the message names the release site")
	assert.Equal(t, &MisuseError{Op: "Put", Count: 0, Err: ErrUnderflow}, me, "same error as without the tag")
}

// A Get after a release made inside Kill names the Kill's caller; a panic
// (no handler) carries the site too.
func TestDebugUseAfterReleaseNamesKill(t *testing.T) {
	r := New(nil)
	killLine := nextLine()
	r.Kill()
	var me *MisuseError
	func() {
		defer func() {
			err, _ := recover().(error)
			require.ErrorAs(t, err, &me)
		}()
		r.Get()
	}()
	require.NotNil(t, me)
	assert.ErrorIs(t, me, ErrReleased)
	assert.Equal(t, siteAt(killLine), me.ReleaseSite())
}

// A misuse before any release carries no site.
func TestDebugMisuseBeforeReleaseHasNoSite(t *testing.T) {
	var me *MisuseError
	r := New(nil, WithMisuseHandler(func(err error) { errors.As(err, &me) }))
	r.Kill()
	require.Nil(t, me)
	r2 := New(nil, WithMisuseHandler(func(err error) { errors.As(err, &me) }))
	r2.Get()
	r2.Kill()
	r2.Kill() // dying, not released
	require.NotNil(t, me)
	assert.ErrorIs(t, me, ErrKilled)
	assert.Empty(t, me.ReleaseSite())
}

func debugTakeThree(r *Ref) (line int) {
	line = nextLine()
	r.GetMany(3)
	return line
}

// Holders lists the sites of outstanding Gets with their counts, most
// first, and nothing once every Get is balanced by a Put.
func TestDebugHoldersListsOutstandingGetSites(t *testing.T) {
	r := New(nil)
	assert.Nil(t, r.Holders(), "only the initial reference")

	manyLine := debugTakeThree(r)
	oneLine := nextLine() + 1
	for i := 0; i < 2; i++ {
		require.True(t, r.TryGetLive())
	}
	r.Put() // balances one TryGetLive

	h := r.Holders()
	require.Len(t, h, 2, "%v", h)
	assert.Equal(t, Site{Func: h[0].Func, File: thisFile(), Line: manyLine, Gets: 3}, h[0])
	assert.True(t, strings.HasSuffix(h[0].Func, "debugTakeThree"), h[0].Func)
	assert.Equal(t, oneLine, h[1].Line)
	assert.Equal(t, int64(2), h[1].Gets, "both TryGetLive calls on that line succeeded")
	assert.Contains(t, h[0].String(), fmt.Sprintf("debug_test.go:%d", manyLine))

	r.PutMany(3)
	r.Put()
	assert.Nil(t, r.Holders(), "all balanced")
	r.Kill()
	assert.True(t, r.IsZero())
}

// A failed TryGet is not a Get; after release and Reinit the record starts
// a new life.
func TestDebugHoldersPerLife(t *testing.T) {
	r := New(nil, AllowReinit())
	r.Kill()
	assert.False(t, r.TryGet())
	assert.Nil(t, r.Holders())
	r.Reinit()
	line := nextLine()
	r.Get()
	h := r.Holders()
	require.Len(t, h, 1)
	assert.Equal(t, line, h[0].Line)
	assert.Equal(t, int64(1), h[0].Gets)
	r.Put()
	r.Kill()
}

// A Shared's Lease is attributed to the caller of Acquire, not to
// shared.go, and the release site to the caller of Lease.Release.
func TestDebugSharedSitesAreTheCallers(t *testing.T) {
	s := NewShared(1, nil)
	n := s.cur.Load()
	line := nextLine()
	l, ok := s.Acquire()
	require.True(t, ok)
	h := n.ref.Holders()
	require.Len(t, h, 1)
	assert.Equal(t, siteAt(line), fmt.Sprintf("%s:%d", h[0].File, h[0].Line))

	s.Swap(2)
	relLine := nextLine()
	l.Release()
	var me *MisuseError
	n.ref.setMisuseHandlerForTest(func(err error) { errors.As(err, &me) })
	l.Release() // a second Release of the same Lease
	require.NotNil(t, me)
	assert.Equal(t, siteAt(relLine), me.ReleaseSite())
	require.NoError(t, s.Close(context.Background()))
}
