package percpuref

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
)

// setReleaseForTest replaces r's release.
func (r *Ref) setReleaseForTest(release func()) {
	defer r.lock().Unlock()
	r.extraLocked(true).release = release
}

// setMisuseHandlerForTest gives r the misuse handler h.
func (r *Ref) setMisuseHandlerForTest(h func(error)) {
	defer r.lock().Unlock()
	r.extraLocked(true).onMisuse = h
}

// WaitAsyncKills waits until every folder goroutine that KillAsync
// started has returned: every switch it left is done, and every release
// and misuse report that came due has run. No KillAsync may run meanwhile
// but from those releases.
func WaitAsyncKills() { asyncKills.running.Wait() }

// OneLockStripe puts every Ref on one stripe of refLocks, from now to the
// test's end: one lock for all. The stripe is computed at every lock, so
// no Ref may be in use when it is called or when the test ends.
func OneLockStripe(t testing.TB) {
	old := refLockShift.Swap(64)
	t.Cleanup(func() { refLockShift.Store(old) })
}

// MustFinish runs f and waits for it at most d. If f has not returned by
// then, a deadlock is likely (a Ref's lock held where it must not be): it
// writes every goroutine's stack to standard error and panics, which ends
// the test binary rather than leave a lock held under the tests that follow.
func MustFinish(t testing.TB, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		os.Stderr.Write(buf[:runtime.Stack(buf, true)])
		panic(fmt.Sprintf("%s: %s did not finish within %v; a deadlock? (stacks above)", t.Name(), what, d))
	}
}

// A Ref is four words: the 32-byte size class, below 48. A Ref with slots
// then costs 32 + 24 (runtime.AddCleanup's allocations) + 8 bytes per P,
// and the arena's 4 bytes per slot that mark a recorded owner
// (chunk.unwatched), within the slot arena's target of 64 + 8 per P; a
// 48-byte Ref missed it.
func TestRefSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 {
		assert.Equal(t, uintptr(32), unsafe.Sizeof(Ref{}))
	} else {
		assert.LessOrEqual(t, unsafe.Sizeof(Ref{}), uintptr(32))
	}
}

var plainReleases atomic.Int32

func plainRelease() { plainReleases.Add(1) }

// hook holds release alone until Done or a misuse handler needs an extra;
// release survives the move, a plain function and a closure alike, and runs
// once, and Done is closed after it.
func TestHookKeepsRelease(t *testing.T) {
	var closureReleases atomic.Int32
	closure := func() { closureReleases.Add(1) }
	for _, release := range []struct {
		name  string
		fn    func()
		calls *atomic.Int32
	}{{"plain", plainRelease, &plainReleases}, {"closure", closure, &closureReleases}, {"nil", nil, nil}} {
		for _, handler := range []bool{false, true} {
			for _, doneFirst := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/handler=%v/doneFirst=%v", release.name, handler, doneFirst), func(t *testing.T) {
					var opts []Option
					if handler {
						opts = append(opts, WithMisuseHandler(func(error) {}))
					}
					var before int32
					if release.calls != nil {
						before = release.calls.Load()
					}
					r := New(release.fn, opts...)
					var done <-chan struct{}
					if doneFirst {
						done = r.Done()
					}
					r.Get()
					r.Kill()
					assert.True(t, r.Put(), "the last Put released")
					if release.calls != nil {
						assert.Equal(t, before+1, release.calls.Load(), "release ran once")
					}
					if done == nil {
						done = r.Done()
					}
					select {
					case <-done:
					default:
						t.Fatal("Done is not closed after release")
					}
				})
			}
		}
	}
}

// Refs that share a stripe of refLocks stay independent: a Ref's Kill and
// release do not wait for another's, and a release that kills a second Ref
// on the same stripe (the lock is not held while release runs) completes.
func TestRefLockStripesNest(t *testing.T) {
	MustFinish(t, 10*time.Second, "callbacks on a shared stripe", func() { lockStripesNest(t) })
}

func lockStripesNest(t *testing.T) {
	a := New(nil)
	var b *Ref
	for b == nil {
		c := New(nil)
		if lockStripe(c) == lockStripe(a) {
			b = c
		}
	}
	a.setReleaseForTest(func() { b.Kill() })
	a.Kill() // release runs here and kills b, whose stripe is a's
	assert.True(t, b.IsZero(), "b was killed and released from a's release")

	// So does a confirm callback.
	c := New(nil)
	for lockStripe(c) != lockStripe(a) {
		c = New(nil)
	}
	var confirmed int64 = -1
	c.KillAndConfirm(func() { confirmed = a.Read() })
	assert.Zero(t, confirmed, "the confirm read a, on c's stripe")

	// A misuse handler runs without the lock, too.
	var read int64 = -1
	b.setMisuseHandlerForTest(func(error) { read = a.Read() })
	b.Kill() // a second Kill: reported to the handler, which reads a
	assert.Zero(t, read, "the handler read a, on b's stripe")
	runtime.KeepAlive(a)
}

func lockStripe(r *Ref) *sync.Mutex {
	m := r.lock()
	m.Unlock()
	return m
}

// A method called on a nil *Ref faults before it takes a lock stripe: a
// recovered panic leaves every stripe free.
func TestNilRefHoldsNoStripe(t *testing.T) {
	var r *Ref
	for name, op := range map[string]func(){
		"Kill":           r.Kill,
		"Exit":           r.Exit,
		"Read":           func() { r.Read() },
		"Done":           func() { r.Done() },
		"Reinit":         r.Reinit,
		"Resurrect":      r.Resurrect,
		"SwitchToAtomic": r.SwitchToAtomicSync,
		"SwitchToPercpu": r.SwitchToPercpu,
		"GetMany(0)":     func() { r.GetMany(0) }, // reports ErrBadDelta: report locks
		"Get":            r.Get,
		"Put":            func() { r.Put() },
	} {
		assert.Panics(t, op, "%s on a nil *Ref", name)
		for i := range refLocks {
			if !assert.True(t, refLocks[i].TryLock(), "stripe %d is held after %s on a nil *Ref", i, name) {
				return
			}
			refLocks[i].Unlock()
		}
	}
}
