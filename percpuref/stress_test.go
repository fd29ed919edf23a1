package percpuref_test

// Stress tests: many goroutines take and drop references (and hand them to
// each other over channels, so that Puts run on other goroutines, and other
// Ps, than the Gets) while a controller kills, resurrects, reinits and
// switches the Refs. Every test checks the same invariants, kept outside the
// Ref by stressRef:
//
//   - release runs at most once per life, and never while a holder exists
//     (holders is incremented as soon as a reference is taken and
//     decremented before it is put; release asserts it is 0);
//   - every release is accounted for: by exactly one Put that returned true,
//     or by a Kill that it ran inside;
//   - a TryGetLive that starts after Kill returned (and before a Resurrect or
//     Reinit started) never succeeds, and no TryGet succeeds on a released
//     Ref;
//   - after the goroutines stop, every count is exact (Read).
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

	"github.com/percpuref/percpu/percpuref"
)

// stressDuration is how long each stress test runs its traffic.
func stressDuration() time.Duration {
	if testing.Short() {
		return 250 * time.Millisecond
	}
	return 800 * time.Millisecond
}

// stressLog collects invariant violations from any goroutine.
type stressLog struct {
	n    atomic.Int64
	mu   sync.Mutex
	msgs []string
}

func (l *stressLog) failf(format string, args ...any) {
	if l.n.Add(1) > 20 {
		return
	}
	l.mu.Lock()
	l.msgs = append(l.msgs, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *stressLog) check(t *testing.T) {
	t.Helper()
	if n := l.n.Load(); n > 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Errorf("%d violations; the first:\n%s", n, strings.Join(l.msgs, "\n"))
	}
}

// stressRef is a Ref and the bookkeeping it is checked against.
type stressRef struct {
	ref  *percpuref.Ref
	log  *stressLog
	name string
	mu   sync.Mutex // the lock PutLocked takes

	holders  atomic.Int64  // references held besides the owner's initial one
	life     atomic.Int64  // lives ended by release and restarted by Reinit
	released atomic.Bool   // release has run in this life
	releases atomic.Int64  // all releases
	inKill   atomic.Int64  // releases that ran inside Kill
	putTrue  atomic.Int64  // Puts that returned true
	kills    atomic.Int64  // Kills made
	deadGen  atomic.Uint64 // odd while Kill has returned and no Resurrect/Reinit has started
	draining atomic.Bool   // workers take no new references
	reinit   bool          // made with AllowReinit (or InitAtomic): may go back to per-CPU

	// neighbour, if set, is read (Read takes its lock) inside release and
	// confirm: with one lock for all Refs, a callback run with the lock
	// held would deadlock there.
	neighbour *percpuref.Ref
}

func newStressRef(log *stressLog, name string, opts ...percpuref.Option) *stressRef {
	s := &stressRef{log: log, name: name}
	opts = append([]percpuref.Option{percpuref.Eager()}, opts...) // a Lazy among opts overrides it
	opts = append(opts, percpuref.WithMisuseHandler(func(err error) {
		log.failf("%s: unexpected misuse: %v", name, err)
	}))
	s.ref = percpuref.New(s.onRelease, opts...)
	return s
}

func (s *stressRef) onRelease() {
	life := s.life.Load()
	if h := s.holders.Load(); h != 0 {
		s.log.failf("%s: release in life %d while %d references are held", s.name, life, h)
	}
	if !s.released.CompareAndSwap(false, true) {
		s.log.failf("%s: second release in life %d", s.name, life)
	}
	s.releases.Add(1)
	if calledFromKill() {
		s.inKill.Add(1)
	}
	if !s.ref.IsZero() {
		s.log.failf("%s: IsZero false inside release", s.name)
	}
	if s.neighbour != nil {
		s.neighbour.Read()
	}
	runtime.Gosched() // widen the window in which every TryGet must fail
	if s.ref.TryGet() {
		s.log.failf("%s: TryGet succeeded inside release", s.name)
	}
}

// calledFromKill reports whether the caller runs inside Ref.KillAndConfirm.
func calledFromKill() bool {
	pc := make([]uintptr, 32)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, ".(*Ref).KillAndConfirm") {
			return true
		}
		if !more {
			return false
		}
	}
}

// tryAcquire takes a new reference with one of the TryGet family and
// reports how many it took.
func (s *stressRef) tryAcquire(rng *rand.Rand) int {
	life := s.life.Load()
	n, ok := 1, false
	switch rng.IntN(4) {
	case 0:
		ok = s.ref.TryGet()
	case 1:
		ok = s.ref.GetUnlessZero()
	case 2:
		n = 1 + rng.IntN(4)
		ok = s.ref.TryGetMany(n)
	case 3:
		gen := s.deadGen.Load()
		ok = s.ref.TryGetLive()
		if ok && gen&1 == 1 && s.deadGen.Load() == gen {
			s.log.failf("%s: TryGetLive succeeded after Kill returned", s.name)
		}
	}
	if !ok {
		return 0
	}
	s.holders.Add(int64(n))
	if s.released.Load() && s.life.Load() == life {
		s.log.failf("%s: TryGet succeeded on a released Ref (life %d)", s.name, life)
	}
	return n
}

// getMore takes n more references; the caller holds one.
func (s *stressRef) getMore(n int) {
	s.holders.Add(int64(n))
	if n == 1 {
		s.ref.Get()
	} else {
		s.ref.GetMany(n)
	}
}

// drop puts n references, one way or another.
func (s *stressRef) drop(rng *rand.Rand, n int) {
	s.holders.Add(-int64(n))
	trues := 0
	switch rng.IntN(3) {
	case 0:
		for i := 0; i < n; i++ {
			if i > 0 && rng.IntN(4) == 0 {
				runtime.Gosched()
			}
			if s.ref.Put() {
				trues++
			}
		}
	case 1:
		if s.ref.PutMany(n) {
			trues++
		}
	case 2:
		for i := 0; i < n; i++ {
			if s.ref.PutLocked(&s.mu) {
				trues++
			}
		}
	}
	if trues > 1 {
		s.log.failf("%s: %d Puts of one batch returned true", s.name, trues)
	}
	s.putTrue.Add(int64(trues))
}

func (s *stressRef) confirm(dying bool) func() {
	return func() {
		if s.ref.IsPercpu() {
			s.log.failf("%s: IsPercpu inside confirm", s.name)
		}
		if dying && !s.ref.IsDying() {
			s.log.failf("%s: not IsDying inside Kill's confirm", s.name)
		}
		if s.neighbour != nil {
			s.neighbour.Read()
		}
		runtime.Gosched()
		if dying && s.ref.TryGetLive() {
			s.log.failf("%s: TryGetLive succeeded inside Kill's confirm", s.name)
		}
	}
}

// kill kills the Ref and marks it dead for the TryGetLive check.
func (s *stressRef) kill() {
	s.kills.Add(1)
	s.ref.KillAndConfirm(s.confirm(true))
	s.deadGen.Add(1)
}

// killResurrect kills the Ref while the controller holds a reference, so
// that Resurrect is well defined, then resurrects it.
func (s *stressRef) killResurrect(rng *rand.Rand) {
	s.holders.Add(1)
	s.ref.Get()
	s.kill()
	stressPause(rng)
	s.deadGen.Add(1)
	s.ref.Resurrect()
	if s.ref.IsDying() {
		s.log.failf("%s: IsDying after Resurrect", s.name)
	}
	s.holders.Add(-1)
	if s.ref.Put() {
		s.log.failf("%s: Put after Resurrect reported release", s.name)
	}
}

// killReinit kills the Ref, lets it drain, waits for release and reinits it.
func (s *stressRef) killReinit(rng *rand.Rand) bool {
	s.kill()
	stressPause(rng) // TryGet still succeeds here while references remain
	s.draining.Store(true)
	select {
	case <-s.ref.Done():
	case <-time.After(20 * time.Second):
		s.log.failf("%s: no release 20s after Kill (count %d, holders %d)", s.name, s.ref.Read(), s.holders.Load())
		return false
	}
	if !s.released.Load() {
		s.log.failf("%s: Done closed but release did not run", s.name)
	}
	if v := s.ref.Read(); v != 0 {
		s.log.failf("%s: Read = %d after release", s.name, v)
	}
	s.released.Store(false)
	s.life.Add(1)
	s.deadGen.Add(1)
	s.ref.Reinit()
	s.draining.Store(false)
	if s.ref.IsDying() || s.ref.IsZero() {
		s.log.failf("%s: dying or zero after Reinit", s.name)
	}
	return true
}

func stressPause(rng *rand.Rand) {
	switch rng.IntN(4) {
	case 0:
	case 1:
		runtime.Gosched()
	case 2:
		for i := rng.IntN(50); i > 0; i-- {
			runtime.Gosched()
		}
	case 3:
		time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
	}
}

// finalCheck runs once nothing else uses s. A live Ref must count exactly
// its initial reference, and Kill must then release inside Kill; a dying
// one must have been released.
func (s *stressRef) finalCheck() {
	if h := s.holders.Load(); h != 0 {
		s.log.failf("%s: test bookkeeping: %d holders left", s.name, h)
	}
	if s.ref.IsDying() {
		if v := s.ref.Read(); v != 0 || !s.released.Load() {
			s.log.failf("%s: dying with no holders: Read = %d, released = %v", s.name, v, s.released.Load())
		}
	} else {
		if v := s.ref.Read(); v != 1 {
			s.log.failf("%s: final Read = %d, want 1 (percpu %v)", s.name, v, s.ref.IsPercpu())
		}
		before := s.releases.Load()
		s.kill()
		if got := s.releases.Load() - before; got != 1 {
			s.log.failf("%s: final Kill ran release %d times, want 1", s.name, got)
		}
		if v := s.ref.Read(); v != 0 || !s.ref.IsZero() {
			s.log.failf("%s: after final Kill: Read = %d, IsZero = %v", s.name, v, s.ref.IsZero())
		}
	}
	if !isClosed(s.ref.Done()) {
		s.log.failf("%s: Done not closed after release", s.name)
	}
	if r, w := s.releases.Load(), s.life.Load()+1; r != w {
		s.log.failf("%s: %d releases over %d lives", s.name, r, w)
	}
	if r, p, k := s.releases.Load(), s.putTrue.Load(), s.inKill.Load(); r != p+k {
		s.log.failf("%s: %d releases, but %d Puts returned true and %d releases ran inside Kill", s.name, r, p, k)
	}
}

// hold is a batch of n references to one Ref, as a worker holds them.
type hold struct {
	s *stressRef
	n int
}

// stressPool is a set of slots of Refs and the workers that use them.
type stressPool struct {
	log     *stressLog
	slots   []atomic.Pointer[stressRef]
	inboxes []chan hold
	stop    atomic.Bool
	ops     atomic.Int64
	wg      sync.WaitGroup
}

func newStressPool(log *stressLog, workers int) *stressPool {
	p := &stressPool{log: log, inboxes: make([]chan hold, workers)}
	for i := range p.inboxes {
		p.inboxes[i] = make(chan hold, 16)
	}
	return p
}

// start runs the workers.
func (p *stressPool) start(seed uint64) {
	for i := range p.inboxes {
		p.wg.Add(1)
		go p.worker(rand.New(rand.NewPCG(seed, uint64(i))), i)
	}
}

func (p *stressPool) worker(rng *rand.Rand, me int) {
	defer p.wg.Done()
	var held []hold
	take := func(i int) hold {
		h := held[i]
		held[i] = held[len(held)-1]
		held = held[:len(held)-1]
		return h
	}
	ops := int64(0)
	for !p.stop.Load() {
		ops++
		switch k := rng.IntN(10); {
		case k < 3:
			if len(held) >= 6 {
				continue
			}
			s := p.slots[rng.IntN(len(p.slots))].Load()
			if s == nil || s.draining.Load() {
				continue
			}
			if n := s.tryAcquire(rng); n > 0 {
				held = append(held, hold{s, n})
			}
		case k < 5:
			if len(held) == 0 || len(held) >= 8 {
				continue
			}
			h := held[rng.IntN(len(held))]
			n := 1
			if rng.IntN(2) == 0 {
				n = 2 + rng.IntN(4)
			}
			h.s.getMore(n)
			held = append(held, hold{h.s, n})
		case k < 8:
			if len(held) == 0 {
				continue
			}
			h := take(rng.IntN(len(held)))
			h.s.drop(rng, h.n)
		case k < 9:
			if len(held) == 0 {
				continue
			}
			i := rng.IntN(len(held))
			select {
			case p.inboxes[rng.IntN(len(p.inboxes))] <- held[i]:
				take(i)
			default:
			}
		default:
			select {
			case h := <-p.inboxes[me]:
				held = append(held, h)
			default:
			}
		}
		if rng.IntN(8) == 0 {
			runtime.Gosched()
		}
	}
	for _, h := range held {
		h.s.drop(rng, h.n)
	}
	p.ops.Add(ops)
}

// quiesce stops the workers and puts every reference still in flight.
func (p *stressPool) quiesce() {
	p.stop.Store(true)
	p.wg.Wait()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, in := range p.inboxes {
		for len(in) > 0 {
			h := <-in
			h.s.drop(rng, h.n)
		}
	}
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
	log := new(stressLog)
	seed := stressSeed(t)
	p := newStressPool(log, 8)
	p.slots = make([]atomic.Pointer[stressRef], 8)
	var refs []*stressRef
	for i := range p.slots {
		opts := []percpuref.Option{percpuref.AllowReinit()}
		if i%4 == 3 {
			opts = []percpuref.Option{percpuref.InitAtomic()}
		}
		s := newStressRef(log, fmt.Sprintf("ref%d", i), opts...)
		s.reinit = true
		refs = append(refs, s)
		p.slots[i].Store(s)
	}
	if neighbours {
		for i, s := range refs {
			s.neighbour = refs[(i+1)%len(refs)].ref
		}
	}
	p.start(seed)

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
				s.killResurrect(rng)
			} else if !s.killReinit(rng) {
				return
			}
			cycles.Add(1)
			stressPause(rng)
		}
	}()
	go func() { // the switcher: modes
		defer ctl.Done()
		rng := rand.New(rand.NewPCG(seed, 1001))
		for !ctlStop.Load() {
			s := refs[rng.IntN(len(refs))]
			switch rng.IntN(3) {
			case 0:
				s.ref.SwitchToAtomic(s.confirm(false))
			case 1:
				s.ref.SwitchToAtomicSync()
			case 2:
				s.ref.SwitchToPercpu()
			}
			stressPause(rng)
		}
	}()
	time.Sleep(stressDuration())
	ctlStop.Store(true)
	percpuref.MustFinish(t, 30*time.Second, "stopping the stress goroutines", func() {
		ctl.Wait()
		p.quiesce()
	})
	for _, s := range refs {
		s.finalCheck()
	}
	t.Logf("%d worker operations, %d controller cycles", p.ops.Load(), cycles.Load())
	if cycles.Load() == 0 {
		t.Errorf("the controller made no cycle")
	}
	log.check(t)
}

// TestStressKillOnce: Refs that die once (no AllowReinit, so the shards are
// freed at Kill; and InitAtomic ones), killed at a random moment under
// traffic, TryGet racing the last Put. Each round makes new Refs.
func TestStressKillOnce(t *testing.T) {
	setProcs(t, 4)
	log := new(stressLog)
	seed := stressSeed(t)
	rng := rand.New(rand.NewPCG(seed, 2000))
	deadline := time.Now().Add(stressDuration())
	rounds, ops := 0, int64(0)
	for time.Now().Before(deadline) {
		p := newStressPool(log, 6)
		p.slots = make([]atomic.Pointer[stressRef], 4)
		var refs []*stressRef
		for i := range p.slots {
			var opts []percpuref.Option
			if i == 3 {
				opts = append(opts, percpuref.InitAtomic())
			}
			s := newStressRef(log, fmt.Sprintf("round%d/ref%d", rounds, i), opts...)
			refs = append(refs, s)
			p.slots[i].Store(s)
		}
		p.start(seed + uint64(rounds))
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		for _, i := range rng.Perm(len(refs)) {
			refs[i].kill()
			stressPause(rng)
		}
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
		for _, s := range refs {
			s.draining.Store(true)
		}
		p.quiesce()
		for _, s := range refs {
			s.finalCheck()
		}
		rounds++
		ops += p.ops.Load()
	}
	t.Logf("%d rounds, %d worker operations", rounds, ops)
	log.check(t)
}

// TestStressGOMAXPROCS: GOMAXPROCS goes up (8, 16: more Ps than cores) and
// down (1) over and over while workers Get and Put; Refs are made at one
// GOMAXPROCS (so with 1 to 16 shards) and used, killed and switched at
// another. Counts must stay exact.
func TestStressGOMAXPROCS(t *testing.T) {
	setProcs(t, runtime.GOMAXPROCS(0))
	log := new(stressLog)
	seed := stressSeed(t)
	p := newStressPool(log, 8)
	p.slots = make([]atomic.Pointer[stressRef], 6)
	var all []*stressRef
	made := 0
	mk := func() *stressRef {
		var opts []percpuref.Option
		if made%2 == 0 {
			opts = append(opts, percpuref.AllowReinit())
		}
		s := newStressRef(log, fmt.Sprintf("ref%d@procs%d", made, runtime.GOMAXPROCS(0)), opts...)
		s.reinit = made%2 == 0
		made++
		all = append(all, s)
		return s
	}
	for i := range p.slots {
		p.slots[i].Store(mk())
	}
	p.start(seed)

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
		i := rng.IntN(len(p.slots))
		s := p.slots[i].Load()
		switch rng.IntN(4) {
		case 0: // retire: replace by a Ref made at today's GOMAXPROCS, kill the old one
			p.slots[i].Store(mk())
			s.kill()
			s.draining.Store(true)
		case 1:
			if s.reinit {
				s.killResurrect(rng)
			}
		case 2:
			s.ref.SwitchToAtomic(s.confirm(false))
		case 3:
			if s.reinit {
				s.ref.SwitchToPercpu()
			}
		}
		stressPause(rng)
	}
	flipStop.Store(true)
	<-flipDone
	p.quiesce()
	for _, s := range all {
		s.finalCheck()
	}
	t.Logf("%d Refs, %d GOMAXPROCS changes, %d worker operations", len(all), flips.Load(), p.ops.Load())
	log.check(t)
}

// TestStressDrift: Gets on one goroutine and Puts on another, of MaxDelta
// each, drive shards past the drift limit (2^48 per shard, so 2^48/MaxDelta
// unmatched GetMany(MaxDelta) on one shard): first all the Gets and then all the Puts,
// with no switch, so that the Gets' shard passes the limit whatever P the
// goroutines run on; then both at once while a controller switches modes.
// The count must stay exact and the Ref must neither release nor report
// misuse.
func TestStressDrift(t *testing.T) {
	setProcs(t, 2)
	log := new(stressLog)
	s := newStressRef(log, "drift", percpuref.AllowReinit())
	s.reinit = true
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
				s.holders.Add(batch * percpuref.MaxDelta)
				for j := 0; j < batch; j++ {
					s.ref.GetMany(percpuref.MaxDelta)
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
				s.holders.Add(-int64(n) * percpuref.MaxDelta)
				for j := 0; j < n; j++ {
					if s.ref.PutMany(percpuref.MaxDelta) {
						s.log.failf("drift: PutMany returned true")
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
					s.ref.SwitchToAtomicSync()
					if v := s.ref.Read(); v < 1 {
						s.log.failf("drift: Read = %d in atomic mode, want >= 1", v)
					}
					s.ref.SwitchToPercpu()
					time.Sleep(time.Millisecond)
				}
			}()
		}
		wg.Wait()
		stop.Store(true)
		sw.Wait()
		if v := s.ref.Read(); v != 1 {
			s.log.failf("drift (concurrent %v): Read = %d after the traffic, want 1", concurrent, v)
		}
	}
	run(false)
	run(true)
	s.finalCheck()
	log.check(t)
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
	log := new(stressLog)
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
				log.failf("obj %d: release without the lock held", key)
			}
			if h := o.holders.Load(); h != 0 {
				log.failf("obj %d: release with %d holders", key, h)
			}
			if !o.released.CompareAndSwap(false, true) {
				log.failf("obj %d: second release", key)
			}
			if cache[key] != o {
				log.failf("obj %d: released object not in the cache", key)
			}
			delete(cache, key)
			releases.Add(1)
		}
		opts := []percpuref.Option{percpuref.WithMisuseHandler(func(err error) {
			log.failf("obj %d: unexpected misuse: %v", key, err)
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
			log.failf("obj %d: lookup found a released object", key)
		}
		if !o.ref.TryGet() {
			log.failf("obj %d: TryGet failed on an object in the cache", key)
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
			log.failf("obj %d: %d holders after the traffic", o.key, o.holders.Load())
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
	log.check(t)
}
