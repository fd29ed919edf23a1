package percpuref

// Helpers of the package's tests: misuse reports caught or logged, release
// counted, a channel checked for closing. They carry a "sem" prefix (they
// began in the semantics tests) so that they do not collide with other test
// files' helpers.

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// semGoid returns the id of the calling goroutine, parsed from its stack
// header ("goroutine 123 [running]:").
func semGoid() uint64 {
	var b [64]byte
	n := runtime.Stack(b[:], false)
	f := bytes.Fields(b[:n])
	id, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// semCatch runs f and returns the *MisuseError it panicked with, or nil if
// it did not panic. A panic with anything else is re-raised.
func semCatch(f func()) (me *MisuseError) {
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(*MisuseError)
			if !ok {
				panic(p)
			}
			me = e
		}
	}()
	f()
	return nil
}

// semLog collects what a misuse handler receives.
type semLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *semLog) handle(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *semLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

func (l *semLog) option() Option { return WithMisuseHandler(l.handle) }

// semRel counts release calls.
type semRel struct{ n atomic.Int32 }

func (c *semRel) fn() func() { return func() { c.n.Add(1) } }

func (c *semRel) calls() int { return int(c.n.Load()) }

// semClosed reports whether ch is closed (without blocking).
func semClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// semRequireMisuse asserts that err is a *MisuseError with the given
// sentinel, op and count.
func semRequireMisuse(t *testing.T, err error, want error, op string, count int64) {
	t.Helper()
	var me *MisuseError
	require.True(t, errors.As(err, &me), "want *MisuseError, got %T %v", err, err)
	assert.ErrorIs(t, err, want)
	assert.Equal(t, op, me.Op)
	assert.Equal(t, count, me.Count)
	assert.Contains(t, me.Error(), op)
	if want == ErrBadDelta {
		assert.Contains(t, me.Error(), fmt.Sprintf("(n %d)", count))
	} else {
		assert.Contains(t, me.Error(), fmt.Sprintf("(count %d)", count))
	}
}

// semRequirePoisoned asserts that err is a *MisuseError on a count poisoned
// by an earlier misuse, with the given cause and op.
func semRequirePoisoned(t *testing.T, err error, want error, op string) {
	t.Helper()
	var me *MisuseError
	require.True(t, errors.As(err, &me), "want *MisuseError, got %T %v", err, err)
	assert.ErrorIs(t, err, want)
	assert.Equal(t, op, me.Op)
	assert.True(t, me.Poisoned)
	assert.Contains(t, me.Error(), "poisoned by an earlier misuse")
}

// semHammer runs work on n goroutines while control runs in the calling
// one; then it stops them and waits for them. work loops until the stopped
// function it is given returns true.
func semHammer(n int, work func(stopped func() bool), control func()) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(stop.Load)
		}()
	}
	control()
	stop.Store(true)
	wg.Wait()
}

// isPoisoned reports whether an earlier misuse poisoned r's count.
func isPoisoned(r *Ref) bool { return r.cells.State.Load()&stPoisoned != 0 }
