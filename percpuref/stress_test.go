package percpuref_test

// Stress tests: many goroutines take and drop references (and hand them to
// each other over channels, so that Puts run on other goroutines, and other
// Ps, than the Gets) while a controller kills, resurrects, reinits and
// switches the Refs. Every test checks the invariants that package
// internal/refcheck keeps outside the Ref (its doc lists them), the checker
// that cmd/reftorture uses too.
//
// The tests run for a fixed time (shorter with -short) rather than a fixed
// number of iterations, so they stay within a few seconds under -race.

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percpuref/percpu/internal/refcheck"
	"github.com/percpuref/percpu/percpuref"
)

// stressDuration is how long each stress test runs its traffic.
func stressDuration() time.Duration {
	if testing.Short() {
		return 250 * time.Millisecond
	}
	return 800 * time.Millisecond
}

// checkLog fails the test if log holds any violation.
func checkLog(t *testing.T, log *refcheck.Log) {
	t.Helper()
	if n := log.Count(); n > 0 {
		t.Errorf("%d violations; the first:\n%s", n, strings.Join(log.First(), "\n"))
	}
}

// newStressRef tracks a new Ref made with opts after Eager (a Lazy among
// opts overrides it), so that the Refs count on cells from the start.
func newStressRef(log *refcheck.Log, name string, opts ...percpuref.Option) *refcheck.Tracked {
	return refcheck.New(log, name, append([]percpuref.Option{percpuref.Eager()}, opts...)...)
}

// killReinit kills s, lets it drain, waits for release and reinits it.
func killReinit(s *refcheck.Tracked, rng *rand.Rand) bool {
	s.Kill()
	refcheck.Pause(rng) // TryGet still succeeds here while references remain
	s.Draining.Store(true)
	select {
	case <-s.Ref.Done():
	case <-time.After(20 * time.Second):
		s.Log.Failf("%s: no release 20s after Kill (count %d, holders %d)", s.Name, s.Ref.Read(), s.Holders.Load())
		return false
	}
	s.CheckReleased()
	s.Reinit()
	return true
}

// quiesce stops p's workers and puts every reference still in flight.
func quiesce(p *refcheck.Pool) {
	p.Stop()
	p.Drain(rand.New(rand.NewPCG(1, 1)))
}

func stressSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return seed
}

func setProcs(t *testing.T, n int) {
	old := runtime.GOMAXPROCS(n)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
}

// TestStressLifecycle: Refs that live many lives (AllowReinit, some
// InitAtomic) under worker traffic, while a controller cycles each through
// Kill+Resurrect and Kill+drain+Reinit and a second goroutine switches them
// between atomic and per-CPU mode.
func TestStressLifecycle(t *testing.T) { stressLifecycle(t, false) }

// TestStressOneLockStripe is TestStressLifecycle with one lock for all the
// Refs, as if every Ref's address hashed to the same stripe, and with
// release and confirm reading another Ref (which takes that lock): Refs
// that share a lock stay exact, and no callback runs with it held. A
// deadlock fails the test at MustFinish's deadline.
func TestStressOneLockStripe(t *testing.T) {
	percpuref.OneLockStripe(t)
	stressLifecycle(t, true)
}

func stressLifecycle(t *testing.T, neighbours bool) {
	setProcs(t, 4)
	log := new(refcheck.Log)
	seed := stressSeed(t)
	p := refcheck.NewPool(8, 8)
	var refs []*refcheck.Tracked
	for i := range p.Refs {
		opts := []percpuref.Option{percpuref.AllowReinit()}
		if i%4 == 3 {
			opts = []percpuref.Option{percpuref.InitAtomic()}
		}
		s := newStressRef(log, fmt.Sprintf("ref%d", i), opts...)
		s.Revivable = true
		refs = append(refs, s)
		p.Refs[i].Store(s)
	}
	if neighbours {
		for i, s := range refs {
			s.Neighbour = refs[(i+1)%len(refs)].Ref
		}
	}
	p.Start(seed, 0)

	var ctl sync.WaitGroup
	var ctlStop atomic.Bool
	var cycles atomic.Int64
	ctl.Add(2)
	go func() { // the controller: lives
		defer ctl.Done()
		rng := rand.New(rand.NewPCG(seed, 1000))
		for !ctlStop.Load() {
			s := refs[rng.IntN(len(refs))]
			if rng.IntN(2) == 0 {
				s.KillResurrect(rng)
			} else if !killReinit(s, rng) {
				return
			}
			cycles.Add(1)
			refcheck.Pause(rng)
		}
	}()
	go func() { // the switcher: modes
		defer ctl.Done()
		rng := rand.New(rand.NewPCG(seed, 1001))
		for !ctlStop.Load() {
			s := refs[rng.IntN(len(refs))]
			switch rng.IntN(3) {
			case 0:
				s.Ref.SwitchToAtomic(s.Confirm(false))
			case 1:
				s.Ref.SwitchToAtomicSync()
			case 2:
				s.Ref.SwitchToPercpu()
			}
			refcheck.Pause(rng)
		}
	}()
	time.Sleep(stressDuration())
	ctlStop.Store(true)
	percpuref.MustFinish(t, 30*time.Second, "stopping the stress goroutines", func() {
		ctl.Wait()
		quiesce(p)
	})
	for _, s := range refs {
		s.FinalCheck()
	}
	t.Logf("%d worker operations, %d controller cycles", p.Ops(), cycles.Load())
	if cycles.Load() == 0 {
		t.Errorf("the controller made no cycle")
	}
	checkLog(t, log)
}

// TestStressKillOnce: Refs that die once (no AllowReinit, so the cells are
// freed at Kill; and InitAtomic ones), killed at a random moment under
// traffic, TryGet racing the last Put. Each round makes new Refs.
func TestStressKillOnce(t *testing.T) {
	setProcs(t, 4)
	log := new(refcheck.Log)
	seed := stressSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2000))
	deadline := time.Now().Add(stressDuration())
	rounds, ops := 0, int64(0)
	for time.Now().Before(deadline) {
		p := refcheck.NewPool(4, 6)
		var refs []*refcheck.Tracked
		for i := range p.Refs {
			var opts []percpuref.Option
			if i == 3 {
				opts = append(opts, percpuref.InitAtomic())
			}
			s := newStressRef(log, fmt.Sprintf("round%d/ref%d", rounds, i), opts...)
			refs = append(refs, s)
			p.Refs[i].Store(s)
		}
		p.Start(seed+uint64(rounds), 0)
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		for _, i := range rng.Perm(len(refs)) {
			refs[i].Kill()
			refcheck.Pause(rng)
		}
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
		for _, s := range refs {
			s.Draining.Store(true)
		}
		quiesce(p)
		for _, s := range refs {
			s.FinalCheck()
		}
		rounds++
		ops += p.Ops()
	}
	t.Logf("%d rounds, %d worker operations", rounds, ops)
	checkLog(t, log)
}

// TestStressGOMAXPROCS: GOMAXPROCS goes up (8, 16: more Ps than cores) and
// down (1) over and over while workers Get and Put; Refs are made at one
// GOMAXPROCS (so with 1 to 16 cells) and used, killed and switched at
// another. Counts must stay exact.
func TestStressGOMAXPROCS(t *testing.T) {
	setProcs(t, runtime.GOMAXPROCS(0))
	log := new(refcheck.Log)
	seed := stressSeed(t)
	p := refcheck.NewPool(6, 8)
	var all []*refcheck.Tracked
	made := 0
	mk := func() *refcheck.Tracked {
		var opts []percpuref.Option
		if made%2 == 0 {
			opts = append(opts, percpuref.AllowReinit())
		}
		s := newStressRef(log, fmt.Sprintf("ref%d@procs%d", made, runtime.GOMAXPROCS(0)), opts...)
		s.Revivable = made%2 == 0
		made++
		all = append(all, s)
		return s
	}
	for i := range p.Refs {
		p.Refs[i].Store(mk())
	}
	p.Start(seed, 0)

	var flips atomic.Int64
	var flipStop atomic.Bool
	flipDone := make(chan struct{})
	go func() {
		defer close(flipDone)
		procs := []int{1, 8, 16, 2, 1, 16, 3, 8, 1, 4}
		rng := rand.New(rand.NewPCG(seed, 3000))
		for i := 0; !flipStop.Load(); i++ {
			runtime.GOMAXPROCS(procs[i%len(procs)])
			flips.Add(1)
			time.Sleep(time.Duration(100+rng.IntN(400)) * time.Microsecond)
		}
	}()
	rng := rand.New(rand.NewPCG(seed, 3001))
	deadline := time.Now().Add(stressDuration())
	for time.Now().Before(deadline) {
		i := rng.IntN(len(p.Refs))
		s := p.Refs[i].Load()
		switch rng.IntN(4) {
		case 0: // retire: replace by a Ref made at today's GOMAXPROCS, kill the old one
			p.Refs[i].Store(mk())
			s.Kill()
			s.Draining.Store(true)
		case 1:
			if s.Revivable {
				s.KillResurrect(rng)
			}
		case 2:
			s.Ref.SwitchToAtomic(s.Confirm(false))
		case 3:
			if s.Revivable {
				s.Ref.SwitchToPercpu()
			}
		}
		refcheck.Pause(rng)
	}
	flipStop.Store(true)
	<-flipDone
	quiesce(p)
	for _, s := range all {
		s.FinalCheck()
	}
	t.Logf("%d Refs, %d GOMAXPROCS changes, %d worker operations", len(all), flips.Load(), p.Ops())
	checkLog(t, log)
}

// TestStressDrift: Gets on one goroutine and Puts on another, of MaxDelta
// each, drive cells past the drift limit (2^48 per cell, so 2^48/MaxDelta
// unmatched GetMany(MaxDelta) on one shard): first all the Gets and then all the Puts,
// with no switch, so that the Gets' shard passes the limit whatever P the
// goroutines run on; then both at once while a controller switches modes.
// The count must stay exact and the Ref must neither release nor report
// misuse.
func TestStressDrift(t *testing.T) {
	setProcs(t, 2)
	log := new(refcheck.Log)
	s := newStressRef(log, "drift", percpuref.AllowReinit())
	s.Revivable = true
	const batch = 1 << 10
	const driftLimit = 1 << 48                            // protocol.go's liveLimit
	iters := int(2*driftLimit/percpuref.MaxDelta) + batch // twice the limit
	if testing.Short() {
		iters = int(driftLimit/percpuref.MaxDelta) + 4*batch
	}
	run := func(concurrent bool) {
		ch := make(chan int, iters/batch)
		getsDone := make(chan struct{})
		var wg sync.WaitGroup
		var stop atomic.Bool
		wg.Add(2)
		go func() {
			defer wg.Done()
			defer close(getsDone)
			for i := 0; i < iters; i += batch {
				s.Holders.Add(batch * percpuref.MaxDelta)
				for j := 0; j < batch; j++ {
					s.Ref.GetMany(percpuref.MaxDelta)
				}
				ch <- batch
			}
			close(ch)
		}()
		go func() {
			defer wg.Done()
			if !concurrent {
				<-getsDone
			}
			for n := range ch {
				s.Holders.Add(-int64(n) * percpuref.MaxDelta)
				for j := 0; j < n; j++ {
					if s.Ref.PutMany(percpuref.MaxDelta) {
						log.Failf("drift: PutMany returned true")
					}
				}
			}
		}()
		var sw sync.WaitGroup
		if concurrent {
			sw.Add(1)
			go func() {
				defer sw.Done()
				for !stop.Load() {
					s.Ref.SwitchToAtomicSync()
					if v := s.Ref.Read(); v < 1 {
						log.Failf("drift: Read = %d in atomic mode, want >= 1", v)
					}
					s.Ref.SwitchToPercpu()
					time.Sleep(time.Millisecond)
				}
			}()
		}
		wg.Wait()
		stop.Store(true)
		sw.Wait()
		if v := s.Ref.Read(); v != 1 {
			log.Failf("drift (concurrent %v): Read = %d after the traffic, want 1", concurrent, v)
		}
	}
	run(false)
	run(true)
	s.FinalCheck()
	checkLog(t, log)
}

// heldLocker is a sync.Locker that knows whether it is held.
type heldLocker struct {
	mu   sync.Mutex
	held atomic.Bool
}

func (l *heldLocker) Lock()   { l.mu.Lock(); l.held.Store(true) }
func (l *heldLocker) Unlock() { l.held.Store(false); l.mu.Unlock() }

// TestStressPutLockedCache: the kref_put_mutex pattern. Objects live in a map
// under a lock; a lookup under the lock takes a reference with TryGet; every
// Put is PutLocked with that lock, so the count can reach zero only with the
// lock held, and release (which removes the object from the map) runs with it
// held. So a lookup must never find an object at zero, and release must
// always find the lock held. Objects are InitAtomic, or per-CPU until a
// lookup kills them under the lock.
func TestStressPutLockedCache(t *testing.T) {
	setProcs(t, 4)
	log := new(refcheck.Log)
	seed := stressSeed(t)
	type obj struct {
		ref      *percpuref.Ref
		key      int
		holders  atomic.Int64
		released atomic.Bool
		killed   bool // guarded by lk
	}
	var (
		lk       heldLocker
		cache    = map[int]*obj{}
		made     atomic.Int64
		releases atomic.Int64
		putTrue  atomic.Int64
	)
	newObj := func(key int) *obj { // with lk held; the caller gets one reference
		o := &obj{key: key}
		release := func() {
			if !lk.held.Load() {
				log.Failf("obj %d: release without the lock held", key)
			}
			if h := o.holders.Load(); h != 0 {
				log.Failf("obj %d: release with %d holders", key, h)
			}
			if !o.released.CompareAndSwap(false, true) {
				log.Failf("obj %d: second release", key)
			}
			if cache[key] != o {
				log.Failf("obj %d: released object not in the cache", key)
			}
			delete(cache, key)
			releases.Add(1)
		}
		opts := []percpuref.Option{percpuref.WithMisuseHandler(func(err error) {
			log.Failf("obj %d: unexpected misuse: %v", key, err)
		})}
		if key%2 == 0 {
			opts = append(opts, percpuref.InitAtomic())
			o.killed = true // no owner reference: the caller's is the initial one
		}
		if key%3 != 0 {
			opts = append(opts, percpuref.Eager()) // else the default: cells at the first contention
		}
		o.ref = percpuref.New(release, opts...)
		if !o.killed {
			o.ref.Get() // per-CPU: the cache owns the initial reference
		}
		o.holders.Add(1)
		made.Add(1)
		cache[key] = o
		return o
	}
	lookup := func(key int, kill bool) *obj {
		lk.Lock()
		defer lk.Unlock()
		o := cache[key]
		if o == nil {
			return newObj(key)
		}
		if o.released.Load() {
			log.Failf("obj %d: lookup found a released object", key)
		}
		if !o.ref.TryGet() {
			log.Failf("obj %d: TryGet failed on an object in the cache", key)
			return nil
		}
		o.holders.Add(1)
		if kill && !o.killed {
			o.killed = true
			o.ref.Kill()
		}
		return o
	}
	put := func(o *obj) {
		o.holders.Add(-1)
		if o.ref.PutLocked(&lk) {
			putTrue.Add(1)
		}
	}
	var wg sync.WaitGroup
	var stop atomic.Bool
	hand := make(chan *obj, 32)
	var ops atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(rng *rand.Rand) {
			defer wg.Done()
			var held []*obj
			n := int64(0)
			for ; !stop.Load(); n++ {
				switch k := rng.IntN(8); {
				case k < 3 && len(held) < 4:
					// Few keys, each generation of a key gets a new number.
					if o := lookup(rng.IntN(4)+4*int(made.Load()/64), rng.IntN(4) == 0); o != nil {
						held = append(held, o)
					}
				case k < 6 && len(held) > 0:
					put(held[len(held)-1])
					held = held[:len(held)-1]
				case k < 7 && len(held) > 0:
					select {
					case hand <- held[len(held)-1]:
						held = held[:len(held)-1]
					default:
					}
				default:
					select {
					case o := <-hand:
						held = append(held, o)
					default:
					}
				}
				if rng.IntN(4) == 0 {
					runtime.Gosched()
				}
			}
			for _, o := range held {
				put(o)
			}
			ops.Add(n)
		}(rand.New(rand.NewPCG(seed, uint64(w))))
	}
	time.Sleep(stressDuration())
	stop.Store(true)
	wg.Wait()
	for len(hand) > 0 {
		put(<-hand)
	}
	// Drop the owner references still held by the cache.
	lk.Lock()
	var left []*obj
	for _, o := range cache {
		left = append(left, o)
	}
	for _, o := range left {
		if o.holders.Load() != 0 {
			log.Failf("obj %d: %d holders after the traffic", o.key, o.holders.Load())
		}
		if !o.killed {
			o.killed = true
			o.ref.Kill()
		}
	}
	n := len(cache)
	lk.Unlock()
	if n != 0 {
		t.Errorf("%d objects left in the cache", n)
	}
	if m, r := made.Load(), releases.Load(); m != r {
		t.Errorf("%d objects made, %d released", m, r)
	}
	if r, p := releases.Load(), putTrue.Load(); p > r {
		t.Errorf("%d PutLocked returned true for %d releases", p, r)
	}
	t.Logf("%d objects, %d releases, %d worker operations", made.Load(), releases.Load(), ops.Load())
	checkLog(t, log)
}
