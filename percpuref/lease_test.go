package percpuref

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percpuref/percpu"
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
	tok, g := leaseAcquire(r)
	require.NotNil(t, tok, "leaseAcquire on a live Ref")
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

// leaseBiasHomes brings the homes of every P back to biased, as their own
// Releases do after a revocation (which earlier tests cause by the
// thousand, lengthening the wait before a rebias): it shortens the wait,
// then takes and releases on every P until each home is biased again.
func leaseBiasHomes(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	r := New(nil)
	biased := func() bool {
		for p := 0; p < procs && p < leaseMaxP; p++ {
			if h := &leaseHomes[p]; h.made() && h.mode.Load() != leaseBiased {
				return false
			}
		}
		return true
	}
	for p := 0; p < procs && p < leaseMaxP; p++ {
		if h := &leaseHomes[p]; h.made() {
			h.rebiasAfter.Store(1) // racing the home's own store: a test's shortcut
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	var wg sync.WaitGroup
	for i := 0; i < procs; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !biased() && time.Now().Before(deadline) {
				for j := 0; j < 100; j++ {
					tok, g := leaseAcquire(r)
					leaseRelease(r, tok, g)
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	require.True(t, biased(), "the homes did not become biased again")
}

// leaseAtHome reports whether a Release of tok now would be a home Release
// (the assembly's plain path), if the goroutine stays where it is.
func leaseAtHome(tok *leaseToken) bool {
	p := leasePin()
	leaseUnpin()
	return leaseBiasable() && p == int(tok.home.id) && tok.home.mode.Load() == leaseBiased
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
		leaseReleaseGo(r, tok, g) // the Go path, whatever the P
		require.Equal(t, int64(2), reports.Load(), "second and third Release")
		require.Equal(t, g+1, tok.w.Load(), "the reported Releases changed the token")
		require.Equal(t, int64(1), r.Read(), "the reported Releases changed the count")
		reports.Store(0)
	}
}

// Where homes may be biased, a Release on the P that took the token is the
// assembly's plain home Release (busy moves on by two; only the assembly
// writes it), and a second one is reported the same way.
func TestLeaseHomeReleaseIsPlain(t *testing.T) {
	if !leaseBiasable() {
		t.Skip("homes are never biased on this fast path: " + percpu.FastPath())
	}
	leaseBiasHomes(t)
	reports := leaseReports(t)
	r := New(nil)
	home := 0
	for i := 0; i < 1000; i++ {
		tok, g := leaseTake(t, r)
		if !leaseAtHome(tok) {
			leaseRelease(r, tok, g)
			continue
		}
		b := tok.home.busy.Load()
		leaseRelease(r, tok, g)
		if tok.home.busy.Load() == b+2 {
			home++
		}
		leaseRelease(r, tok, g)
	}
	// The goroutine may move between the check and the Release; most
	// Releases are still at home.
	assert.Greater(t, home, 500, "home Releases that took the plain path, of 1000")
	assert.Equal(t, int64(1000), reports.Load())
	assert.Equal(t, int64(1), r.Read())
}

// A Release on another P revokes the home's bias (mode unbiased, after a
// membarrier), and the home's own Releases bias it again after a while.
func TestLeaseRevokeAndRebias(t *testing.T) {
	if !leaseBiasable() {
		t.Skip("homes are never biased on this fast path: " + percpu.FastPath())
	}
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two Ps")
	}
	leaseBiasHomes(t)
	r := New(nil)
	var h *leaseHome
	for try := 0; h == nil && try < 100; try++ {
		tok, g := leaseTake(t, r)
		if !leaseAtHome(tok) {
			leaseRelease(r, tok, g)
			continue
		}
		revokedAt := tok.home.revokedAt.Load()
		// Keep this P busy until the other goroutine, on another P, has
		// released the token.
		var p atomic.Int64
		var done atomic.Bool
		go func() {
			p.Store(int64(leasePID()))
			leaseRelease(r, tok, g)
			done.Store(true)
		}()
		leaseSpin(done.Load)
		require.Equal(t, g+1, tok.w.Load())
		if int32(p.Load()) != tok.home.id && tok.home.revokedAt.Load() != revokedAt {
			h = tok.home
		}
	}
	require.NotNil(t, h, "no Release on another P revoked a home")

	// Rebias: goroutines on every P take and release tokens; those on h's P
	// count towards its rebias.
	deadline := time.Now().Add(10 * time.Second)
	var wg sync.WaitGroup
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h.mode.Load() != leaseBiased && time.Now().Before(deadline) {
				for j := 0; j < 1000; j++ {
					tok, g := leaseAcquire(r)
					leaseRelease(r, tok, g)
				}
				runtime.Gosched()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, uint32(leaseBiased), h.mode.Load(), "the home never became biased again")
	assert.Equal(t, int64(1), r.Read())
}

// leasePID returns the P the caller ran on a moment ago.
func leasePID() int {
	p := leasePin()
	leaseUnpin()
	return p
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
	assert.Equal(t, uint32(leaseUnbiased), leaseLoose.mode.Load())
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
