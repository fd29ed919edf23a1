package percpuref

// KillAll: each Ref ends as Kill leaves it, misuse included; the Refs of a
// batch share one membarrier; user code runs after every Ref is killed, and
// a panic in it stops nothing; and KillAll under traffic and against other
// KillAlls.

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/fastpath"
)

// killScene is a set of Refs in every state that Kill treats differently,
// with one log of what user code saw (releases and misuse reports) in the
// order it ran.
type killScene struct {
	refs   []*Ref
	events []string
	mu     sync.Mutex
}

func (s *killScene) event(e string) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

// newKillScene makes the Refs. Refs made without a handler of their own
// (the zero Ref) report to the process's handler, which the caller sets to
// s.misuse.
func newKillScene() *killScene {
	s := new(killScene)
	mk := func(name string, opts ...Option) *Ref {
		opts = append(opts, WithMisuseHandler(s.misuse))
		return New(func() { s.event("release " + name) }, opts...)
	}
	lazy := mk("lazy") // never spreads: released by Kill
	eagerHeld := mk("eagerHeld", Eager())
	shards := mk("shards", WithShards(4))
	atomicHeld := mk("atomicHeld", InitAtomic())
	dead := mk("dead", Eager())
	exited := mk("exited", Eager())
	putToZero := mk("putToZero", InitAtomic())
	under := mk("under", Eager())
	reinit := mk("reinit", Eager(), AllowReinit())

	var wg sync.WaitGroup
	for range 2 { // two references held, taken on other goroutines
		wg.Add(1)
		go func() { defer wg.Done(); eagerHeld.Get() }()
	}
	wg.Wait()
	atomicHeld.Get()
	dead.Get()
	dead.Kill() // killed before, one reference held
	exited.Exit()
	putToZero.Put() // released without Kill
	under.Put()
	under.Put()    // a Put too many, in per-CPU mode
	s.events = nil // the releases and reports of the setup

	s.refs = []*Ref{
		lazy, eagerHeld, shards, atomicHeld,
		lazy, // the same Ref again
		dead,
		new(Ref), // never set up: reports to the process's handler
		exited, putToZero, under, reinit,
	}
	return s
}

// killEach kills each Ref of refs with Kill, in turn.
func killEach(refs []*Ref) {
	for _, r := range refs {
		r.Kill()
	}
}

// killedScene makes a scene, with the process's misuse handler reporting
// to it until the test ends, kills its Refs with kill, waits for every
// folder that KillAsync started, and returns the state of each Ref, the
// scene's events in the order they came, and the scene.
func killedScene(t *testing.T, kill func(refs []*Ref)) (state, events []string, scene *killScene) {
	SetMisuseHandler(func(err error) { scene.misuse(err) })
	t.Cleanup(func() { SetMisuseHandler(nil) })
	scene = newKillScene()
	MustFinish(t, 10*time.Second, "the scene's kills", func() {
		kill(scene.refs)
		asyncKills.running.Wait()
	})
	return scene.state(), scene.events, scene
}

// misuse logs a report without the percpurefdebug build's attribution
// ("; Ref released at file:line"), which names where each run released.
func (s *killScene) misuse(err error) {
	msg, _, _ := strings.Cut(err.Error(), "; Ref released at ")
	s.event("misuse: " + msg)
}

// state describes every Ref of the scene as a user sees it.
func (s *killScene) state() []string {
	var out []string
	for i, r := range s.refs {
		out = append(out, fmt.Sprintf("ref %d: Read %d, dying %v, percpu %v, zero %v, done %v",
			i, r.Read(), r.IsDying(), r.IsPercpu(), r.IsZero(), semClosed(r.Done())))
	}
	return out
}

// TestKillAllLeavesEachRefAsKillDoes: the same scene killed with Kill, Ref
// after Ref, and with one KillAll, ends in the same states with the same
// releases and misuse reports in the same order; and the figures a user
// expects hold in both.
func TestKillAllLeavesEachRefAsKillDoes(t *testing.T) {
	oneByOne, oneByOneEvents, _ := killedScene(t, killEach)
	all, allEvents, scene := killedScene(t, func(refs []*Ref) { KillAll(refs...) })

	assert.Equal(t, oneByOne, all)
	assert.Equal(t, oneByOneEvents, allEvents)

	want := []string{
		"release lazy",
		"release shards",
		"misuse: percpuref: Kill: Ref already killed (count 0)", // lazy again
		"misuse: percpuref: Kill: Ref already killed (count 1)", // dead
		"misuse: percpuref: Kill: Ref used before Init (count 0)",
		"misuse: percpuref: Kill: Ref used after Exit (count 1)",
		"misuse: percpuref: Kill: use after release (count 0)",          // putToZero
		"misuse: percpuref: Kill: reference count underflow (count -1)", // under
		"release reinit",
	}
	assert.Equal(t, want, allEvents)
	for _, st := range all {
		t.Log(st)
	}
	r := scene.refs
	assert.Equal(t, int64(2), r[1].Read(), "two references still held")
	assert.True(t, r[1].IsDying())
	assert.False(t, r[1].IsPercpu())
	assert.Equal(t, int64(1), r[3].Read())
	assert.True(t, r[0].IsZero())
	assert.True(t, isPoisoned(r[9]), "a Put too many is found at the fold")
	assert.True(t, r[10].IsZero())
}

// TestKillAllSharesOneBarrierPerBatch: with the membarrier fast path, a
// KillAll of Refs with cells issues one membarrier per batch of
// killAllBatch Refs, where Kill issues one per Ref; without it (generic,
// purego and race builds, the fetchadd protocol), none.
func TestKillAllSharesOneBarrierPerBatch(t *testing.T) {
	membarrier := strings.HasSuffix(percpu.FastPath(), "+membarrier")
	const n = 2*killAllBatch + 1
	refs := make([]*Ref, n)
	var rel semRel
	for i := range refs {
		refs[i] = New(rel.fn(), Eager())
	}
	before := fastpath.Barriers()
	KillAll(refs...)
	got := fastpath.Barriers() - before
	assert.Equal(t, n, rel.calls())

	const each = 10
	for i := range each {
		refs[i] = New(rel.fn(), Eager())
	}
	before = fastpath.Barriers()
	for _, r := range refs[:each] {
		r.Kill()
	}
	oneByOne := fastpath.Barriers() - before

	if membarrier {
		assert.Equal(t, uint64(3), got, "KillAll of %d Refs", n)
		assert.Equal(t, uint64(each), oneByOne, "Kill of %d Refs", each)
	} else {
		assert.Zero(t, got)
		assert.Zero(t, oneByOne)
	}
	t.Logf("fast path %s: KillAll of %d Refs made %d membarriers, %d Kills %d",
		percpu.FastPath(), n, got, each, oneByOne)

	// Refs without cells (default, never spread) need none at all.
	for i := range refs {
		refs[i] = New(rel.fn())
	}
	before = fastpath.Barriers()
	KillAll(refs...)
	assert.Zero(t, fastpath.Barriers()-before, "Refs without cells")
}

// TestKillAllFinishesWhenUserCodePanics: a release that panics, and a
// misuse report with no handler (which panics), stop neither the kills nor
// the releases after them; the panic reaches the caller.
func TestKillAllFinishesWhenUserCodePanics(t *testing.T) {
	var rel semRel
	boom := New(func() { panic("boom") }, Eager())
	b, c := New(rel.fn()), New(rel.fn(), Eager())
	p := func() (p any) {
		defer func() { p = recover() }()
		KillAll(boom, b, c)
		return nil
	}()
	require.NotNil(t, p)
	assert.Contains(t, fmt.Sprint(p), "boom")
	assert.Equal(t, 2, rel.calls(), "the releases after the one that panicked ran")
	assert.True(t, boom.IsDying())
	assert.True(t, boom.IsZero())

	// A panic in the first release, with several batches: every Ref was
	// killed before any release ran, and every release after it runs.
	refs := []*Ref{New(func() { panic("first") }, Eager())}
	for range killAllBatch + 2 {
		refs = append(refs, New(rel.fn(), Eager()))
	}
	p = func() (p any) {
		defer func() { p = recover() }()
		KillAll(refs...)
		return nil
	}()
	assert.Contains(t, fmt.Sprint(p), "first")
	for i, r := range refs {
		require.True(t, r.IsZero(), "ref %d of %d released", i, len(refs))
	}
	require.Equal(t, 2+killAllBatch+2, rel.calls())
	rel.n.Store(2)

	// Two releases panic: both ran, and the caller recovers the last panic,
	// as with panics in deferred calls.
	first, second := New(func() { panic("first") }, Eager()), New(func() { panic("second") }, Eager())
	p = func() (p any) {
		defer func() { p = recover() }()
		KillAll(first, second)
		return nil
	}()
	assert.Equal(t, "second", fmt.Sprint(p))
	assert.True(t, first.IsZero())
	assert.True(t, second.IsZero())

	d, e := New(rel.fn()), New(rel.fn(), Eager())
	me := semCatch(func() { KillAll(d, d, e) })
	semRequireMisuse(t, me, ErrKilled, "Kill", 0)
	assert.Equal(t, 4, rel.calls(), "d released once, and e after the report that panicked")
	assert.True(t, e.IsZero())
}

// TestKillAllOfNilPanicsFirst: a nil entry panics before any Ref is
// killed.
func TestKillAllOfNilPanicsFirst(t *testing.T) {
	var rel semRel
	a := New(rel.fn(), Eager())
	assert.Panics(t, func() { KillAll(a, nil) })
	assert.False(t, a.IsDying())
	assert.Equal(t, 0, rel.calls())
	KillAll() // nothing to do
	a.Kill()
	assert.Equal(t, 1, rel.calls())
}

// TestKillAllUnderTraffic: Refs of every kind killed by KillAll while
// goroutines Get and Put them (the Puts often on another P than the Gets,
// with runtime.Gosched between the steps), while another goroutine
// KillAlls an overlapping set and GOMAXPROCS changes. Each Ref is killed
// once (every other attempt is reported as ErrKilled), released once,
// and only after its last Put.
func TestKillAllUnderTraffic(t *testing.T) {
	killUnderTraffic(t, func(refs []*Ref) { KillAll(refs...) })
}

// killUnderTraffic is TestKillAllUnderTraffic with kill in KillAll's
// place: two goroutines each kill a set of Refs with it, the two sets
// overlapping by a third. Once kill has returned, every release it left to
// another goroutine (KillAsync's) must run without any more calls.
func killUnderTraffic(t *testing.T, kill func(refs []*Ref)) {
	old := runtime.GOMAXPROCS(4)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	var kinds = [][]Option{nil, {Eager()}, {WithShards(2)}, {InitAtomic()}, {Eager(), AllowReinit()}}
	d := 800 * time.Millisecond
	if testing.Short() {
		d = 250 * time.Millisecond
	}
	deadline := time.Now().Add(d)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	rounds := 0
	for time.Now().Before(deadline) || rounds < 3 {
		const nrefs, holders = killAllBatch + 16, 3 // two batches
		var killed atomic.Int64
		handler := func(err error) {
			if me, ok := err.(*MisuseError); ok && me.Err == ErrKilled {
				killed.Add(1)
				return
			}
			t.Errorf("unexpected misuse: %v", err)
		}
		refs := make([]*Ref, nrefs)
		held := make([]atomic.Int64, nrefs) // references the holders have not put yet
		released := make([]atomic.Int32, nrefs)
		for i := range refs {
			i := i
			opts := append(append([]Option(nil), kinds[i%len(kinds)]...), WithMisuseHandler(handler))
			refs[i] = New(func() {
				if h := held[i].Load(); h != 0 {
					t.Errorf("ref %d released with %d references held", i, h)
				}
				released[i].Add(1)
			}, opts...)
		}
		var wg sync.WaitGroup
		for i := range refs {
			for range holders {
				refs[i].Get()
				held[i].Add(1)
				wg.Add(1)
				go func(r *Ref, h *atomic.Int64, seed uint64) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(seed, 1))
					for range 20 + rng.IntN(40) {
						r.Get()
						if rng.IntN(2) == 0 {
							runtime.Gosched()
						}
						r.Put()
					}
					h.Add(-1)
					r.Put()
				}(refs[i], &held[i], rng.Uint64())
			}
		}
		// Two KillAlls over overlapping halves, and GOMAXPROCS moving.
		perm := rng.Perm(nrefs)
		first, second := make([]*Ref, 0, nrefs), make([]*Ref, 0, nrefs)
		for k, j := range perm {
			if k < 2*nrefs/3 {
				first = append(first, refs[j])
			}
			if k >= nrefs/3 {
				second = append(second, refs[j])
			}
		}
		var kw sync.WaitGroup
		kw.Add(3)
		go func() { defer kw.Done(); kill(first) }()
		go func() { defer kw.Done(); kill(second) }()
		go func() {
			defer kw.Done()
			for _, p := range []int{1, 3, 2, 4} {
				runtime.GOMAXPROCS(p)
				runtime.Gosched()
			}
		}()
		MustFinish(t, 20*time.Second, "the kills, the traffic and the folders", func() {
			kw.Wait()
			wg.Wait()
			asyncKills.running.Wait()
		})
		overlap := len(first) + len(second) - nrefs
		assert.Equal(t, int64(overlap), killed.Load(), "each Ref killed once, every other Kill reported")
		for i, r := range refs {
			assert.True(t, r.IsDying(), "ref %d", i)
			assert.Equal(t, int32(1), released[i].Load(), "ref %d: releases", i)
			assert.True(t, r.IsZero(), "ref %d", i)
		}
		rounds++
	}
	t.Logf("%d rounds", rounds)
}

// TestKillAllReadsRefsBeforeUserCode: every Ref of refs is killed before
// any release runs, so a release that changes the caller's slice (a cache
// that deletes its entry, shifting the later ones and zeroing the tail)
// changes neither which Refs are killed nor anything else; and a Ref given
// twice is killed once, whether its entries fall in one batch or in two,
// even if its release Reinits it.
func TestKillAllReadsRefsBeforeUserCode(t *testing.T) {
	var mu sync.Mutex
	var cache []*Ref
	for range 2*killAllBatch + 50 {
		var r *Ref
		r = New(func() {
			mu.Lock()
			defer mu.Unlock()
			if i := slices.Index(cache, r); i >= 0 {
				cache = slices.Delete(cache, i, i+1)
			}
		}, Eager())
		cache = append(cache, r)
	}
	all := slices.Clone(cache)
	MustFinish(t, 10*time.Second, "KillAll of a cache whose releases delete entries", func() { KillAll(cache...) })
	for i, r := range all {
		assert.True(t, r.IsDying() && r.IsZero(), "entry %d killed and released", i)
	}
	assert.Empty(t, cache)

	for _, gap := range []int{1, killAllBatch} {
		var log semLog
		releases := 0
		var r *Ref
		r = New(func() {
			releases++
			if releases == 1 {
				r.Reinit() // a new life, which the second entry must not kill
			}
		}, Eager(), AllowReinit(), log.option())
		refs := []*Ref{r}
		for range gap - 1 {
			refs = append(refs, New(nil))
		}
		refs = append(refs, r)
		KillAll(refs...)
		assert.Equal(t, 1, releases, "gap %d: killed once", gap)
		require.Len(t, log.all(), 1, "gap %d", gap)
		semRequireMisuse(t, log.all()[0], ErrKilled, "Kill", 0)
		assert.False(t, r.IsDying(), "gap %d: the life Reinit began is live", gap)
	}
}

// TestKillAllReleaseSeesTheOthersKilled: a release run by KillAll sees every
// Ref of refs killed, so one that resurrects a later Ref of refs (which
// still has a holder) brings it back to life, as docs/semantics.md says.
func TestKillAllReleaseSeesTheOthersKilled(t *testing.T) {
	var log semLog
	b := New(nil, Eager(), AllowReinit(), log.option())
	b.Get() // a holder: b is not released by its Kill
	sawDying := false
	a := New(func() { sawDying = b.IsDying(); b.Resurrect() }, Eager(), log.option())
	KillAll(a, b)
	assert.True(t, sawDying, "a's release ran after b was killed")
	assert.False(t, b.IsDying(), "b was resurrected by a's release")
	assert.Empty(t, log.all())
	assert.False(t, b.Put())
	assert.Equal(t, int64(1), b.Read())
}

// TestKillAllOnOneLockStripe: KillAll with every Ref on one lock stripe,
// while another goroutine Reads, Kills and asks for Done of Refs on the
// same stripe, in and out of refs: nothing deadlocks, every Ref is
// released once.
func TestKillAllOnOneLockStripe(t *testing.T) {
	killOnOneStripe(t, 2*killAllBatch+3, func(refs []*Ref) { KillAll(refs...) }, (*Ref).Kill)
}

// killOnOneStripe puts every Ref on one lock stripe and kills n Refs with
// kill while another goroutine Reads a Ref outside them, asks for Done of
// one and kills the last with killOne, over and over: nothing deadlocks
// (kill, that goroutine and the folders KillAsync started all finish), and
// every Ref is released once.
func killOnOneStripe(t *testing.T, n int, kill func(refs []*Ref), killOne func(r *Ref)) {
	OneLockStripe(t)
	var rel semRel
	var refs []*Ref
	for range n {
		refs = append(refs, New(rel.fn(), Eager(), WithMisuseHandler(func(error) {})))
	}
	other := New(nil, Eager())
	stop := make(chan struct{})
	fin := make(chan struct{})
	go func() {
		defer close(fin)
		for {
			select {
			case <-stop:
				return
			default:
			}
			other.Read()
			refs[7].Done()
			killOne(refs[len(refs)-1])
		}
	}()
	MustFinish(t, 10*time.Second, "kills on one stripe", func() {
		kill(refs)
		close(stop)
		<-fin
		asyncKills.running.Wait()
	})
	assert.Equal(t, len(refs), rel.calls())
	other.Kill()
}
