package percpuref

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sharedTracker records, per value (an int id), how many Leases hold it and
// how many times it was released, and reports any release that runs twice
// or while a Lease on its value is held.
type sharedTracker struct {
	t        *testing.T
	leases   []atomic.Int64
	released []atomic.Int32
	bad      atomic.Int64
}

func newSharedTracker(t *testing.T, n int) *sharedTracker {
	return &sharedTracker{t: t, leases: make([]atomic.Int64, n), released: make([]atomic.Int32, n)}
}

func (k *sharedTracker) release(id int) {
	if h := k.leases[id].Load(); h != 0 {
		k.bad.Add(1)
		k.t.Errorf("value %d released while %d leases hold it", id, h)
	}
	if c := k.released[id].Add(1); c != 1 {
		k.bad.Add(1)
		k.t.Errorf("value %d released %d times", id, c)
	}
}

// use holds l's value for a moment, checking that it is not released.
func (k *sharedTracker) use(l Lease[int], spin int) int {
	id := l.Value()
	k.leases[id].Add(1)
	for i := 0; i < spin; i++ {
		if k.released[id].Load() != 0 {
			k.bad.Add(1)
			k.t.Errorf("lease on value %d saw it released", id)
			break
		}
		if i%8 == 7 {
			runtime.Gosched()
		}
	}
	if l.Value() != id {
		k.t.Errorf("lease value changed from %d to %d", id, l.Value())
	}
	k.leases[id].Add(-1)
	return id
}

// Readers Acquire, use and Release while writers Swap, and Close ends it:
// every value is released exactly once, never while a Lease holds it, and
// Close returns only after all of them, including those leased at the time.
func TestSharedConcurrentReadersWritersClose(t *testing.T) {
	const (
		readers = 4
		writers = 2
		values  = 2000
	)
	k := newSharedTracker(t, values)
	s := NewShared(0, k.release)
	var next atomic.Int64 // last id handed to a writer

	var seen [readers]map[int]bool
	var rwg, wwg sync.WaitGroup
	for g := 0; g < readers; g++ {
		seen[g] = map[int]bool{}
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for i := 0; ; i++ {
				l, ok := s.Acquire()
				if !ok {
					return
				}
				seen[g][k.use(l, i%32)] = true
				l.Release()
			}
		}()
	}
	for g := 0; g < writers; g++ {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			for {
				id := int(next.Add(1))
				if id >= values {
					return
				}
				s.Swap(id)
				if id%16 == 0 {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}()
	}
	wwg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx))
	// Close returned: every value must already be released, although the
	// readers may still be between a failed Acquire and their exit.
	for id := 0; id < values; id++ {
		assert.Equal(t, int32(1), k.released[id].Load(), "value %d", id)
	}
	rwg.Wait()
	_, ok := s.Acquire()
	assert.False(t, ok, "Acquire after Close")
	assert.Zero(t, k.bad.Load())
	distinct := map[int]bool{}
	for g := range seen {
		for id := range seen[g] {
			distinct[id] = true
		}
	}
	assert.Greater(t, len(distinct), 1, "readers saw only one value: the test did not exercise Swap")
}

// Once Swap returns, no new Acquire sees an older value.
func TestSharedAcquireAfterSwapSeesNewValue(t *testing.T) {
	const n = 3000
	s := NewShared(0, nil)
	var published atomic.Int64 // highest value whose Swap has returned
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				min := published.Load()
				l, ok := s.Acquire()
				if !ok {
					t.Error("Acquire failed before Close")
					return
				}
				if v := l.Value(); int64(v) < min {
					t.Errorf("Acquire saw %d after Swap(%d) returned", v, min)
				}
				l.Release()
			}
		}()
	}
	for v := 1; v <= n; v++ {
		s.Swap(v)
		published.Store(int64(v))
	}
	close(stop)
	wg.Wait()
	require.NoError(t, s.Close(context.Background()))
}

// A swapped-out value is released by its last Lease's Release, in that
// call; one with no Lease is released inside Swap.
func TestSharedReleaseTiming(t *testing.T) {
	var released []string
	s := NewShared("a", func(v string) { released = append(released, v) })

	l1, ok := s.Acquire()
	require.True(t, ok)
	l2, ok := s.Acquire()
	require.True(t, ok)
	s.Swap("b")
	assert.Empty(t, released, "a is leased")
	assert.Equal(t, "a", l1.Value())
	l1.Release()
	assert.Empty(t, released, "a is still leased by l2")
	l2.Release()
	assert.Equal(t, []string{"a"}, released)

	l3, ok := s.Acquire()
	require.True(t, ok)
	assert.Equal(t, "b", l3.Value())
	l3.Release()
	s.Swap("c")
	assert.Equal(t, []string{"a", "b"}, released, "b had no lease: released inside Swap")

	require.NoError(t, s.Close(context.Background()))
	assert.Equal(t, []string{"a", "b", "c"}, released)
}

// Close honours ctx while a Lease is held; the value is released when the
// Lease is, and a later Close then returns nil.
func TestSharedCloseHonoursContext(t *testing.T) {
	var released atomic.Int32
	s := NewShared(7, func(int) { released.Add(1) })
	l, ok := s.Acquire()
	require.True(t, ok)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err := s.Close(ctx)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "Close = %v", err)
	assert.Zero(t, released.Load(), "released while leased")
	_, ok = s.Acquire()
	assert.False(t, ok, "Acquire after Close")
	assert.Equal(t, 7, l.Value())

	// A second Close blocks until the Lease is released.
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v while a Lease was held", err)
	case <-time.After(20 * time.Millisecond):
	}
	l.Release()
	assert.Equal(t, int32(1), released.Load())
	select {
	case err := <-closed:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the last Lease was released")
	}

	// Nothing pending: even a cancelled ctx gets nil.
	done, cancel2 := context.WithCancel(context.Background())
	cancel2()
	assert.NoError(t, s.Close(done))
	assert.Equal(t, int32(1), released.Load())
}

// Swap after Close releases its value at once; a zero Shared is closed.
func TestSharedClosedAndZero(t *testing.T) {
	var released []int
	rel := func(v int) { released = append(released, v) }
	s := NewShared(1, rel)
	require.NoError(t, s.Close(context.Background()))
	s.Swap(2)
	assert.Equal(t, []int{1, 2}, released)
	_, ok := s.Acquire()
	assert.False(t, ok)

	var z Shared[int]
	_, ok = z.Acquire()
	assert.False(t, ok)
	assert.NoError(t, z.Close(context.Background()))
	z.Swap(3) // no release function: nothing to run, nothing published
	_, ok = z.Acquire()
	assert.False(t, ok)
}

// Wait returns ctx's error while the Ref lives, and nil once release has
// returned, even with a done ctx.
func TestRefWait(t *testing.T) {
	var released atomic.Bool
	r := New(func() { released.Store(true) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, r.Wait(ctx), context.DeadlineExceeded)

	r.Get()
	r.Kill()
	waited := make(chan error, 1)
	go func() { waited <- r.Wait(context.Background()) }()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v while a reference was held", err)
	case <-time.After(20 * time.Millisecond):
	}
	r.Put()
	select {
	case err := <-waited:
		assert.NoError(t, err)
		assert.True(t, released.Load(), "Wait returned before release")
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after release")
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	assert.NoError(t, r.Wait(cancelled))
}

// leaseCatch runs f and returns what it panicked with, or nil.
func leaseCatch(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// leaseRequireMisuse checks that p is the report of a second Lease.Release:
// a *MisuseError with Op "Lease.Release" wrapping ErrLeaseReleased, whose
// Count is the node's count, which the misuse left unchanged.
func leaseRequireMisuse(t *testing.T, p any, count int64) {
	t.Helper()
	require.NotNil(t, p, "second Release was not reported")
	err, ok := p.(error)
	require.True(t, ok, "panic value %v is not an error", p)
	var me *MisuseError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, "Lease.Release", me.Op)
	assert.ErrorIs(t, err, ErrLeaseReleased)
	assert.False(t, me.Poisoned)
	assert.Equal(t, count, me.Count, "node count in the report")
}

// A second Release of the same Lease is reported at that Release, with a
// panic, and drops nothing: another Lease on the value still reads it, and
// the value is released once, by the last real Release. Both while the value
// is current (per-CPU mode, where an extra Put would go unnoticed until the
// Swap released the value under the other Lease) and after it was swapped
// out (atomic mode, where an extra Put would release it).
func TestLeaseDoubleReleaseReportedOtherLeaseUnaffected(t *testing.T) {
	for _, swapFirst := range []bool{false, true} {
		name := map[bool]string{false: "current", true: "swappedOut"}[swapFirst]
		t.Run(name, func(t *testing.T) {
			var released []string
			s := NewShared("a", func(v string) { released = append(released, v) })
			n := s.cur.Load()
			l1, ok := s.Acquire()
			require.True(t, ok)
			l2, ok := s.Acquire()
			require.True(t, ok)
			if swapFirst {
				s.Swap("b")
			}

			l1.Release()
			before := n.ref.Read() // the Shared's reference (if current) and l2's
			leaseRequireMisuse(t, leaseCatch(l1.Release), before)
			assert.Equal(t, before, n.ref.Read(), "the second Release changed the count")
			assert.Empty(t, released, "released while l2 holds it")
			assert.Equal(t, "a", l2.Value())

			if !swapFirst {
				require.Nil(t, leaseCatch(func() { s.Swap("b") }), "Swap panicked")
				assert.Empty(t, released, "Swap released a while l2 holds it")
				assert.Equal(t, "a", l2.Value())
			}
			l2.Release()
			assert.Equal(t, []string{"a"}, released, "a released once, by l2's Release")

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, s.Close(ctx))
			assert.Equal(t, []string{"a", "b"}, released)
		})
	}
}

// Releasing a copy of a released Lease is the same misuse, reported the
// same way, every time; with a misuse handler it goes to the handler, not
// to a panic: the node Ref's own (a test hook) or the process's
// (SetMisuseHandler).
func TestLeaseCopyDoubleRelease(t *testing.T) {
	for _, handler := range []string{"panic", "ref", "process"} {
		t.Run(handler, func(t *testing.T) {
			var released []string
			s := NewShared("a", func(v string) { released = append(released, v) })
			n := s.cur.Load()
			var reported []error
			switch handler {
			case "ref":
				n.ref.setMisuseHandlerForTest(func(err error) { reported = append(reported, err) })
			case "process":
				SetMisuseHandler(func(err error) { reported = append(reported, err) })
				defer SetMisuseHandler(nil)
			}
			l1, ok := s.Acquire()
			require.True(t, ok)
			l2, ok := s.Acquire()
			require.True(t, ok)
			s.Swap("b")

			c := l1 // a copy: the same Lease
			c.Release()
			p := leaseCatch(l1.Release)
			if handler != "panic" {
				require.Nil(t, p, "panicked although a handler is set")
				require.Len(t, reported, 1)
				p = reported[0]
			}
			leaseRequireMisuse(t, p, 1) // l2's reference
			assert.Equal(t, int64(1), n.ref.Read())
			assert.Empty(t, released)
			assert.Equal(t, "a", l2.Value())

			// A third Release, of either, is reported again.
			p = leaseCatch(c.Release)
			if handler != "panic" {
				require.Len(t, reported, 2)
				p = reported[1]
			}
			leaseRequireMisuse(t, p, 1)

			l2.Release()
			assert.Equal(t, []string{"a"}, released)
			require.NoError(t, s.Close(context.Background()))
			assert.Equal(t, []string{"a", "b"}, released)
		})
	}
}

// A sole Lease released twice: the second Release is reported there, and
// the writer's Swap and Close then run normally (an extra Put would make
// Swap's Kill report an underflow, and Close would never drain).
func TestLeaseSoleDoubleReleaseWriterUnaffected(t *testing.T) {
	var released []string
	s := NewShared("a", func(v string) { released = append(released, v) })
	l, ok := s.Acquire()
	require.True(t, ok)
	l.Release()
	leaseRequireMisuse(t, leaseCatch(l.Release), 1) // the Shared's reference

	require.Nil(t, leaseCatch(func() { s.Swap("b") }), "Swap panicked")
	assert.Equal(t, []string{"a"}, released, "a had no Lease: released inside Swap")
	l2, ok := s.Acquire()
	require.True(t, ok)
	assert.Equal(t, "b", l2.Value())
	l2.Release()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	require.Nil(t, leaseCatch(func() { err = s.Close(ctx) }), "Close panicked")
	require.NoError(t, err, "Close did not drain")
	assert.Equal(t, []string{"a", "b"}, released)
}

// A stale copy is detected even after a new Lease took its token again:
// the new Lease is unaffected (the generation, not the token, identifies a
// Lease). The P's cursor stays on a token that is free again, so the next
// Acquire on the same P takes the same token.
func TestLeaseStaleCopyAfterTokenReuse(t *testing.T) {
	var released []int
	s := NewShared(1, func(v int) { released = append(released, v) })
	n := s.cur.Load()
	reused := 0
	for i := 0; i < 200; i++ {
		l1, ok := s.Acquire()
		require.True(t, ok)
		stale := l1
		l1.Release()
		l2, ok := s.Acquire() // usually l1's token, unless this goroutine moved
		require.True(t, ok)
		if l2.t == stale.t {
			reused++
			assert.Equal(t, stale.gen+2, l2.gen)
		}
		leaseRequireMisuse(t, leaseCatch(stale.Release), 2) // the Shared's and l2's
		assert.Equal(t, int64(2), n.ref.Read())
		assert.Equal(t, 1, l2.Value())
		require.Nil(t, leaseCatch(l2.Release), "the new Lease's Release was reported")
		// And the stale copy again, now that l2 is gone too.
		leaseRequireMisuse(t, leaseCatch(stale.Release), 1)
	}
	assert.Positive(t, reused, "no token was reused: the test did not exercise reuse")
	s.Swap(2)
	assert.Equal(t, []int{1}, released)
	require.NoError(t, s.Close(context.Background()))
	assert.Equal(t, []int{1, 2}, released)
}

// The zero Lease, from an Acquire that reported false, releases as a no-op
// (any number of times) and reads the zero value, so Release may be
// deferred before ok is checked.
func TestLeaseZero(t *testing.T) {
	var z Lease[string]
	assert.Nil(t, leaseCatch(z.Release), "Release of the zero Lease")
	assert.Nil(t, leaseCatch(z.Release), "second Release of the zero Lease")
	var v string
	require.Nil(t, leaseCatch(func() { v = z.Value() }), "Value of the zero Lease")
	assert.Equal(t, "", v)

	var released []string
	s := NewShared("a", func(v string) { released = append(released, v) })
	require.NoError(t, s.Close(context.Background()))
	assert.Nil(t, leaseCatch(func() {
		l, ok := s.Acquire()
		defer l.Release()
		assert.False(t, ok)
		assert.Equal(t, "", l.Value())
	}))
	var zs Shared[*int]
	assert.Nil(t, leaseCatch(func() {
		l, ok := zs.Acquire()
		defer l.Release()
		assert.False(t, ok)
		assert.Nil(t, l.Value())
	}))
	assert.Equal(t, []string{"a"}, released)
}

// Two goroutines release two copies of one Lease at the same moment, many
// times, with runtime.Gosched between the steps so that the two land on
// either P, in either order, or together: each time exactly one of them
// drops the reference (the node's count is back where it was, and no
// value is released early) and the other is reported, once.
func TestLeaseConcurrentDoubleRelease(t *testing.T) {
	iters := 3000
	if testing.Short() {
		iters = 300
	}
	var reports atomic.Int64
	SetMisuseHandler(func(err error) {
		var me *MisuseError
		if !errors.As(err, &me) || me.Op != "Lease.Release" || !errors.Is(err, ErrLeaseReleased) {
			t.Errorf("unexpected report: %v", err)
			return
		}
		reports.Add(1)
	})
	defer SetMisuseHandler(nil)

	var released atomic.Int64
	s := NewShared(0, func(int) { released.Add(1) })
	hold, ok := s.Acquire() // a Lease the misuse must not disturb
	require.True(t, ok)

	var start, done sync.WaitGroup
	leases := make(chan Lease[int])
	var gate atomic.Int32
	go func() { // the second releaser
		for l := range leases {
			start.Done()
			for gate.Load() == 0 {
				runtime.Gosched()
			}
			l.Release()
			done.Done()
		}
	}()
	for i := 0; i < iters; i++ {
		if i%100 == 99 {
			s.Swap(i) // a new node: the copies may be of a current or an old value
		}
		n := s.cur.Load()
		l, ok := s.Acquire()
		require.True(t, ok)
		before := reports.Load()
		gate.Store(0)
		start.Add(1)
		done.Add(1)
		leases <- l // a copy
		start.Wait()
		if i%3 == 0 {
			runtime.Gosched()
		}
		gate.Store(1)
		if i%2 == 0 {
			runtime.Gosched()
		}
		l.Release()
		done.Wait()
		require.Equal(t, before+1, reports.Load(), "iteration %d: reports", i)
		if n == s.cur.Load() {
			// The Shared's reference and hold's (if hold is on n), no more:
			// a second Put would show here as one less.
			want := int64(1)
			if hold.n == n {
				want++
			}
			require.Equal(t, want, n.ref.Read(), "iteration %d: count", i)
		}
		require.Equal(t, 0, hold.Value(), "iteration %d: the held value", i)
	}
	close(leases)
	// Each Swap retired a value; the first of them is the held one.
	swaps := int64(iters / 100)
	require.Equal(t, swaps-1, released.Load(), "values released: every retired one but the held one")
	hold.Release()
	require.Equal(t, swaps, released.Load(), "the held value, at its Lease's Release")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx), "Close did not drain")
	assert.Equal(t, swaps+1, released.Load())
	assert.Equal(t, int64(iters), reports.Load())
}

// A Lease handed to another goroutine (very likely on another P with
// GOMAXPROCS >= 2) is released there like any other, while Leases on the
// same value come and go at home: no report, and every value is released
// once, after its last Lease.
func TestLeaseReleasedElsewhere(t *testing.T) {
	const iters, swapEvery = 20000, 50
	k := newSharedTracker(t, iters/swapEvery+1)
	s := NewShared(0, k.release)
	handoff := make(chan Lease[int], 16)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for l := range handoff {
			k.use(l, 4)
			l.Release()
		}
	}()
	for i := 0; i < iters; i++ {
		if i%swapEvery == swapEvery-1 {
			s.Swap(i/swapEvery + 1)
		}
		l, ok := s.Acquire()
		require.True(t, ok)
		k.leases[l.Value()].Add(1)
		if i%4 == 0 {
			k.leases[l.Value()].Add(-1)
			handoff <- l
			continue
		}
		k.leases[l.Value()].Add(-1)
		l.Release()
	}
	close(handoff)
	wg.Wait()
	require.NoError(t, s.Close(context.Background()))
	for id := range k.released {
		assert.Equal(t, int32(1), k.released[id].Load(), "value %d", id)
	}
	assert.Zero(t, k.bad.Load())
}

// Readers Acquire, use and Release while a writer Swaps; some of them
// release a copy of a released Lease on purpose, some keep a copy until
// its token has been taken again, some release two copies at once from two
// goroutines. Every misuse is reported (exactly one report per extra
// Release), and none of them disturbs the count: each value is released
// exactly once, never while a valid Lease reads it, and Close drains.
// Reports go to panics (recovered) or to a SetMisuseHandler handler.
func TestLeaseDoubleReleaseStress(t *testing.T) {
	t.Run("panic", func(t *testing.T) { leaseDoubleReleaseStress(t, false) })
	t.Run("handler", func(t *testing.T) { leaseDoubleReleaseStress(t, true) })
}

func leaseDoubleReleaseStress(t *testing.T, handler bool) {
	const (
		readers = 4
		values  = 1000
	)
	k := newSharedTracker(t, values)
	s := NewShared(0, k.release)
	var extra, reports atomic.Int64 // extra Releases made, and reported

	// count counts a report of misuse; any other report fails the test.
	count := func(p any) {
		var me *MisuseError
		if err, ok := p.(error); !ok || !errors.As(err, &me) || me.Op != "Lease.Release" || !errors.Is(err, ErrLeaseReleased) {
			t.Errorf("unexpected report or panic: %v", p)
			return
		}
		reports.Add(1)
	}
	if handler {
		SetMisuseHandler(func(err error) { count(err) })
		t.Cleanup(func() { SetMisuseHandler(nil) })
	}
	// release releases l; a panic is counted as a report.
	release := func(l Lease[int]) {
		if p := leaseCatch(l.Release); p != nil {
			if handler {
				t.Errorf("Release panicked with %v although a handler is set", p)
			}
			count(p)
		}
	}

	stop := make(chan struct{})
	var rwg sync.WaitGroup
	for g := 0; g < readers; g++ {
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			var stale []Lease[int]
			for i := 0; ; i++ {
				select {
				case <-stop:
					for _, c := range stale {
						extra.Add(1)
						release(c)
					}
					return
				default:
				}
				l, ok := s.Acquire()
				if !ok {
					t.Error("Acquire failed before Close")
					return
				}
				k.use(l, i%16)
				switch i % 8 {
				case 1: // release a copy right after the Lease
					c := l
					release(l)
					extra.Add(1)
					release(c)
				case 3: // keep a copy, release it after later Acquires took the token again
					release(l)
					stale = append(stale, l)
					if len(stale) > 4 {
						extra.Add(1)
						release(stale[0])
						stale = stale[1:]
					}
				case 5: // two copies released at once: one Release, one report
					c := l
					extra.Add(1)
					var wg sync.WaitGroup
					wg.Add(1)
					go func() { defer wg.Done(); release(c) }()
					release(l)
					wg.Wait()
				default:
					release(l)
				}
			}
		}()
	}
	var writerPanic any
	for id := 1; id < values; id++ {
		if writerPanic = leaseCatch(func() { s.Swap(id) }); writerPanic != nil {
			break
		}
		if id%8 == 0 {
			time.Sleep(20 * time.Microsecond)
		}
	}
	close(stop)
	rwg.Wait()
	require.Nil(t, writerPanic, "Swap panicked")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Close(ctx), "Close did not drain: a reference was lost")
	for id := 0; id < values; id++ {
		assert.Equal(t, int32(1), k.released[id].Load(), "value %d", id)
	}
	assert.Zero(t, k.bad.Load())
	assert.Positive(t, extra.Load())
	assert.Equal(t, extra.Load(), reports.Load(), "extra Releases vs reports")
}

// A Shared's values are held by Refs that have their cells from the start
// (Eager), as its Cost section says: a value read by one goroutine must not
// count on its central word with a compare-and-swap until two readers
// collide. White-box: whether a Ref has cells is not observable through the
// API.
func TestSharedNodesHaveCellsFromTheStart(t *testing.T) {
	s := NewShared(1, nil)
	n := s.cur.Load()
	require.NotZero(t, n.ref.cells.Len(), "the first value's Ref has cells")
	l, ok := s.Acquire()
	require.True(t, ok)
	assert.True(t, n.ref.IsPercpu())
	l.Release()
	s.Swap(2)
	require.NotZero(t, s.cur.Load().ref.cells.Len(), "a swapped-in value's Ref has cells")
	require.NoError(t, s.Close(context.Background()))
}
