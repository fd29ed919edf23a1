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

// The zero Lease, from an Acquire that reported false, is safe to Release
// (a no-op) and reads the zero value, so the deferred pattern works.
func TestLeaseZero(t *testing.T) {
	var released int
	s := NewShared("a", func(string) { released++ })
	require.NoError(t, s.Close(context.Background()))
	func() {
		l, ok := s.Acquire()
		defer l.Release()
		assert.False(t, ok)
		assert.Equal(t, "", l.Value())
	}()
	var zero Shared[string]
	l, ok := zero.Acquire()
	assert.False(t, ok)
	assert.NotPanics(t, l.Release)
	assert.Equal(t, 1, released, "the closed Shared released its value once")
}
