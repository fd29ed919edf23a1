package percpuref

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leaseReports counts the reports of second Releases made while it is the
// process's misuse handler; any other report fails the test.
func leaseReports(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	SetMisuseHandler(func(err error) {
		var me *MisuseError
		if !errors.As(err, &me) || me.Op != "Lease.Release" || !errors.Is(err, ErrLeaseReleased) {
			t.Errorf("unexpected report: %v", err)
			return
		}
		n.Add(1)
	})
	t.Cleanup(func() { SetMisuseHandler(nil) })
	return &n
}

// leaseTake takes a reference on r and a token, as Acquire does.
func leaseTake(t *testing.T, r *Ref) (*leaseToken, uint64) {
	tok, g, got := leaseAcquire(r)
	require.True(t, got, "leaseAcquire on a live Ref")
	return tok, g
}

// leaseSpin waits until cond holds: spinning, to meet a goroutine on
// another P as closely as possible and to keep this P busy meanwhile (so
// that the goroutine it waits for runs elsewhere), and, with one P, or
// after a long wait, yielding, so that the goroutine gets to run.
func leaseSpin(cond func() bool) {
	yieldEvery := 1 << 16
	if runtime.GOMAXPROCS(0) == 1 {
		yieldEvery = 64
	}
	for i := 1; !cond(); i++ {
		if i%yieldEvery == 0 {
			runtime.Gosched()
		}
	}
}

// Tokens are odd while held; the first Release drops the reference and
// every later one (of the same generation) is reported and changes nothing;
// a token taken again has a later generation.
func TestLeaseTokenGenerations(t *testing.T) {
	reports := leaseReports(t)
	r := New(nil)
	seen := map[*leaseToken]uint64{}
	for i := 0; i < 1000; i++ {
		tok, g := leaseTake(t, r)
		require.Equal(t, uint64(1), g&1, "a held generation is odd")
		require.Equal(t, g, tok.w.Load())
		if last, ok := seen[tok]; ok {
			require.Greater(t, g, last, "a token's generations only grow")
		}
		seen[tok] = g
		require.Equal(t, int64(2), r.Read())
		leaseRelease(r, tok, g)
		require.Equal(t, int64(1), r.Read(), "the first Release drops the reference")
		require.Zero(t, reports.Load())
		leaseRelease(r, tok, g)
		leaseRelease(r, tok, g)
		require.Equal(t, int64(2), reports.Load(), "second and third Release")
		require.Equal(t, g+1, tok.w.Load(), "the reported Releases changed the token")
		require.Equal(t, int64(1), r.Read(), "the reported Releases changed the count")
		reports.Store(0)
	}
}

// A goroutine holding more Leases than its P's slab has tokens gets new,
// larger slabs; every Lease still releases once, and a second Release of
// each is reported.
func TestLeaseSlabGrowth(t *testing.T) {
	const n = 3 * leaseMaxSlab
	reports := leaseReports(t)
	var released atomic.Int64
	s := NewShared(7, func(int) { released.Add(1) })
	leases := make([]Lease[int], n)
	for i := range leases {
		var ok bool
		leases[i], ok = s.Acquire()
		require.True(t, ok)
	}
	tokens := map[*leaseToken]bool{}
	grown := false
	for _, l := range leases {
		require.False(t, tokens[l.t], "two held Leases share a token")
		tokens[l.t] = true
		if l.t.home.id >= 0 && l.t.home.mask.Load()+1 > leaseMinSlab {
			grown = true
		}
	}
	assert.True(t, grown, "no home's slab grew")
	s.Swap(8)
	assert.Zero(t, released.Load(), "released while leased")
	for _, l := range leases {
		assert.Equal(t, 7, l.Value())
		l.Release()
	}
	assert.Equal(t, int64(1), released.Load())
	assert.Zero(t, reports.Load())
	for _, l := range leases {
		l.Release()
	}
	assert.Equal(t, int64(n), reports.Load())
	assert.Equal(t, int64(1), released.Load())
	require.NoError(t, s.Close(t.Context()))
	assert.Equal(t, int64(2), released.Load())
}

// A token of no P's slab (the tokens made for P ids beyond leaseMaxP) is
// released by compare-and-swap alone, once.
func TestLeaseLooseToken(t *testing.T) {
	reports := leaseReports(t)
	r := New(nil)
	r.Get() // the reference the loose token's Lease holds
	tok := &leaseToken{home: &leaseLoose}
	tok.w.Store(1)
	leaseRelease(r, tok, 1)
	assert.Equal(t, int64(1), r.Read())
	assert.Equal(t, uint64(2), tok.w.Load())
	leaseRelease(r, tok, 1)
	assert.Equal(t, int64(1), reports.Load())
	assert.Equal(t, int64(1), r.Read())
}

// Two goroutines release one Lease's token at once, many times, one of
// them usually at home and the other elsewhere: exactly one drops the
// reference and the other is reported, each time.
func TestLeaseConcurrentReleaseExactlyOne(t *testing.T) {
	iters := 20000
	if testing.Short() {
		iters = 2000
	}
	reports := leaseReports(t)
	r := New(nil)
	type job struct {
		tok *leaseToken
		g   uint64
	}
	jobs := make(chan job)
	done := make(chan struct{})
	var gate atomic.Int32
	go func() {
		for j := range jobs {
			leaseSpin(func() bool { return gate.Load() != 0 })
			leaseRelease(r, j.tok, j.g)
			done <- struct{}{}
		}
	}()
	for i := 0; i < iters; i++ {
		tok, g := leaseTake(t, r)
		gate.Store(0)
		jobs <- job{tok, g}
		if i%7 == 0 {
			runtime.Gosched()
		}
		gate.Store(1)
		if i%3 == 0 {
			runtime.Gosched()
		}
		leaseRelease(r, tok, g)
		<-done
		require.Equal(t, int64(i+1), reports.Load(), "iteration %d: reports", i)
		require.Equal(t, int64(1), r.Read(), "iteration %d: count", i)
		require.Equal(t, g+1, tok.w.Load(), "iteration %d", i)
	}
	close(jobs)
}
