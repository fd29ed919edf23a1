package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percpuref/percpu/percpuref"
)

// A tortured Ref and the bookkeeping it is checked against.
type object struct {
	id     int
	ref    *percpuref.Ref
	t      *tortureRun
	reinit bool       // may go back to per-CPU mode (AllowReinit or InitAtomic)
	mu     sync.Mutex // the lock PutLocked takes

	holders  atomic.Int64  // references held besides the owner's initial one
	life     atomic.Int64  // lives ended by release and restarted by Reinit
	released atomic.Bool   // release has run in this life
	releases atomic.Int64  // releases of this object
	deadGen  atomic.Uint64 // odd while Kill has returned and no Resurrect/Reinit has started
	draining atomic.Bool   // workers take no new references

	// Controller-only.
	killedAt int // controller step of the Kill that is waiting for release; 0 if live
}

// tortureRun is one run of the torture.
type tortureRun struct {
	cfg    config
	stderr io.Writer
	slots  []atomic.Pointer[object]
	nextID atomic.Int64

	inboxes []chan hold
	stop    atomic.Bool
	wg      sync.WaitGroup

	violations atomic.Int64
	printMu    sync.Mutex

	// Totals over every object.
	releases atomic.Int64
	inKill   atomic.Int64
	putTrue  atomic.Int64
	ops      atomic.Int64

	// Controller totals.
	kills, resurrects, reinits, replaced, switches, procChanges int64

	// The misuser's totals (misuse.go).
	misusedRefs, misuseReports atomic.Int64
}

// result is what a run reports.
type result struct {
	seed       uint64
	elapsed    time.Duration
	ops        int64
	violations int64
	releases   int64
	kills      int64
	resurrects int64
	reinits    int64
	replaced   int64
	switches   int64
	procs      int64
	refs       int
	goroutines int
	misused    int64 // Refs the misuser misused
	reports    int64 // misuse reports on them
}

func (r result) print(w io.Writer) {
	secs := r.elapsed.Seconds()
	if secs <= 0 {
		secs = 1e-9
	}
	fmt.Fprintf(w, "reftorture: seed %d, %d Refs, %d goroutines, %v\n", r.seed, r.refs, r.goroutines, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "operations: %d total, %.0f/s\n", r.ops, float64(r.ops)/secs)
	fmt.Fprintf(w, "controller: %d kills, %d resurrects, %d reinits, %d Refs replaced, %d switches, %d GOMAXPROCS changes; %d releases\n",
		r.kills, r.resurrects, r.reinits, r.replaced, r.switches, r.procs, r.releases)
	fmt.Fprintf(w, "misuse: %d Refs misused after release, %d misuse reports\n", r.misused, r.reports)
	fmt.Fprintf(w, "violations: %d\n", r.violations)
	if r.violations == 0 {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}

// violate records a violation and prints the first few.
func (t *tortureRun) violate(format string, args ...any) {
	n := t.violations.Add(1)
	if n > 20 {
		return
	}
	t.printMu.Lock()
	defer t.printMu.Unlock()
	fmt.Fprintf(t.stderr, "VIOLATION: "+format+"\n", args...)
	if n == 20 {
		fmt.Fprintln(t.stderr, "(further violations are counted, not printed)")
	}
}

func (t *tortureRun) newObject(reinit, atomicMode bool) *object {
	o := &object{id: int(t.nextID.Add(1)), t: t, reinit: reinit || atomicMode}
	opts := []percpuref.Option{percpuref.WithMisuseHandler(func(err error) {
		t.violate("ref %d: misuse reported: %v", o.id, err)
	})}
	if reinit {
		opts = append(opts, percpuref.AllowReinit())
	}
	if atomicMode {
		opts = append(opts, percpuref.InitAtomic())
	}
	if o.id%2 == 0 {
		opts = append(opts, percpuref.Eager()) // else the default, Lazy: cells at the first contention
	}
	o.ref = percpuref.New(o.onRelease, opts...)
	return o
}

func (o *object) onRelease() {
	life := o.life.Load()
	if h := o.holders.Load(); h != 0 {
		o.t.violate("ref %d: release in life %d while %d references are held", o.id, life, h)
	}
	if !o.released.CompareAndSwap(false, true) {
		o.t.violate("ref %d: second release in life %d", o.id, life)
	}
	o.releases.Add(1)
	o.t.releases.Add(1)
	if calledFromKill() {
		o.t.inKill.Add(1)
	}
	if !o.ref.IsZero() {
		o.t.violate("ref %d: IsZero false inside release", o.id)
	}
	runtime.Gosched()
	if o.ref.TryGet() {
		o.t.violate("ref %d: TryGet succeeded inside release", o.id)
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

// tryAcquire takes new references with the TryGet family and returns how
// many it took.
func (o *object) tryAcquire(rng *rand.Rand) int {
	life := o.life.Load()
	n, ok := 1, false
	switch rng.IntN(4) {
	case 0:
		ok = o.ref.TryGet()
	case 1:
		ok = o.ref.GetUnlessZero()
	case 2:
		n = 1 + rng.IntN(4)
		ok = o.ref.TryGetMany(n)
	case 3:
		gen := o.deadGen.Load()
		ok = o.ref.TryGetLive()
		if ok && gen&1 == 1 && o.deadGen.Load() == gen {
			o.t.violate("ref %d: TryGetLive succeeded after Kill returned", o.id)
		}
	}
	if !ok {
		return 0
	}
	o.holders.Add(int64(n))
	if o.released.Load() && o.life.Load() == life {
		o.t.violate("ref %d: TryGet succeeded on a released Ref (life %d)", o.id, life)
	}
	return n
}

func (o *object) getMore(n int) {
	o.holders.Add(int64(n))
	if n == 1 {
		o.ref.Get()
	} else {
		o.ref.GetMany(n)
	}
}

func (o *object) drop(rng *rand.Rand, n int) {
	o.holders.Add(-int64(n))
	trues := 0
	switch rng.IntN(3) {
	case 0:
		for i := 0; i < n; i++ {
			if o.ref.Put() {
				trues++
			}
		}
	case 1:
		if o.ref.PutMany(n) {
			trues++
		}
	case 2:
		for i := 0; i < n; i++ {
			if o.ref.PutLocked(&o.mu) {
				trues++
			}
		}
	}
	if trues > 1 {
		o.t.violate("ref %d: %d Puts of one batch returned true", o.id, trues)
	}
	o.t.putTrue.Add(int64(trues))
}

func (o *object) confirm(dying bool) func() {
	return func() {
		if o.ref.IsPercpu() {
			o.t.violate("ref %d: IsPercpu inside confirm", o.id)
		}
		if dying && !o.ref.IsDying() {
			o.t.violate("ref %d: not IsDying inside Kill's confirm", o.id)
		}
		if dying && o.ref.TryGetLive() {
			o.t.violate("ref %d: TryGetLive succeeded inside Kill's confirm", o.id)
		}
	}
}

func (o *object) kill() {
	o.ref.KillAndConfirm(o.confirm(true))
	o.deadGen.Add(1)
}

// hold is a batch of n references to one object.
type hold struct {
	o *object
	n int
}

// worker makes random operations until the run stops, then puts what it
// holds.
func (t *tortureRun) worker(rng *rand.Rand, me int) {
	defer t.wg.Done()
	var held []hold
	take := func(i int) hold {
		h := held[i]
		held[i] = held[len(held)-1]
		held = held[:len(held)-1]
		return h
	}
	var ops int64
	for !t.stop.Load() {
		ops++
		if t.cfg.faultEvery > 0 && ops%int64(t.cfg.faultEvery) == 0 && len(held) > 0 {
			held[0].o.ref.Put() // the injected fault: one Put too many
		}
		switch k := rng.IntN(10); {
		case k < 3:
			if len(held) >= 6 {
				continue
			}
			o := t.slots[rng.IntN(len(t.slots))].Load()
			if o.draining.Load() {
				continue
			}
			if n := o.tryAcquire(rng); n > 0 {
				held = append(held, hold{o, n})
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
			h.o.getMore(n)
			held = append(held, hold{h.o, n})
		case k < 8:
			if len(held) > 0 {
				h := take(rng.IntN(len(held)))
				h.o.drop(rng, h.n)
			}
		case k < 9:
			if len(held) > 0 {
				i := rng.IntN(len(held))
				select {
				case t.inboxes[rng.IntN(len(t.inboxes))] <- held[i]:
					take(i)
				default:
				}
			}
		default:
			select {
			case h := <-t.inboxes[me]:
				held = append(held, h)
			default:
			}
		}
		if rng.IntN(8) == 0 {
			runtime.Gosched()
		}
	}
	for _, h := range held {
		h.o.drop(rng, h.n)
	}
	t.ops.Add(ops)
}

func pause(rng *rand.Rand) {
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

// released checks an object whose Kill has been followed by release.
func (t *tortureRun) checkReleased(o *object) {
	if !o.released.Load() {
		t.violate("ref %d: Done closed but release did not run", o.id)
	}
	if v := o.ref.Read(); v != 0 {
		t.violate("ref %d: Read = %d after release", o.id, v)
	}
	if r, w := o.releases.Load(), o.life.Load()+1; r != w {
		t.violate("ref %d: %d releases in %d lives", o.id, r, w)
	}
}

// controller runs the lives of the objects until the deadline.
func (t *tortureRun) controller(rng *rand.Rand, deadline time.Time) {
	step := 0
	for time.Now().Before(deadline) {
		step++
		i := rng.IntN(len(t.slots))
		o := t.slots[i].Load()
		if o.killedAt != 0 {
			// Killed earlier: drain it after a while, and once released,
			// reinit it or replace it.
			if step-o.killedAt > 4 {
				o.draining.Store(true)
			}
			select {
			case <-o.ref.Done():
			default:
				continue
			}
			t.checkReleased(o)
			if o.reinit && rng.IntN(4) != 0 {
				o.released.Store(false)
				o.life.Add(1)
				o.deadGen.Add(1)
				o.ref.Reinit()
				o.draining.Store(false)
				o.killedAt = 0
				t.reinits++
				if o.ref.IsDying() || o.ref.IsZero() {
					t.violate("ref %d: dying or zero after Reinit", o.id)
				}
			} else {
				t.slots[i].Store(t.newObject(rng.IntN(2) == 0, rng.IntN(4) == 0))
				t.replaced++
			}
			continue
		}
		switch k := rng.IntN(20); {
		case k < 4: // Kill; release comes with the last Put
			o.kill()
			o.killedAt = step
			t.kills++
		case k < 8 && o.reinit: // Kill and Resurrect, holding a reference across
			o.holders.Add(1)
			o.ref.Get()
			o.kill()
			t.kills++
			pause(rng)
			o.deadGen.Add(1)
			o.ref.Resurrect()
			t.resurrects++
			if o.ref.IsDying() {
				t.violate("ref %d: IsDying after Resurrect", o.id)
			}
			o.holders.Add(-1)
			if o.ref.Put() {
				t.violate("ref %d: Put after Resurrect reported release", o.id)
			}
		case k < 12:
			o.ref.SwitchToAtomic(o.confirm(false))
			t.switches++
		case k < 14:
			o.ref.SwitchToAtomicSync()
			t.switches++
		case k < 18:
			if o.reinit {
				o.ref.SwitchToPercpu()
				t.switches++
			}
		default:
			runtime.GOMAXPROCS(1 + rng.IntN(t.cfg.maxProcs))
			t.procChanges++
		}
		pause(rng)
	}
}

// torture runs the torture described by cfg and returns its figures.
func torture(cfg config, stdout, stderr io.Writer) result {
	t := &tortureRun{cfg: cfg, stderr: stderr}
	fmt.Fprintf(stdout, "reftorture: seed %d (replays the random choices, not the schedule); %d Refs, %d goroutines, GOMAXPROCS 1..%d, for %v\n",
		cfg.seed, cfg.refs, cfg.goroutines, cfg.maxProcs, cfg.duration)
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	ctl := rand.New(rand.NewPCG(cfg.seed, 0))
	t.slots = make([]atomic.Pointer[object], cfg.refs)
	for i := range t.slots {
		t.slots[i].Store(t.newObject(ctl.IntN(2) == 0, ctl.IntN(4) == 0))
	}
	t.inboxes = make([]chan hold, cfg.goroutines)
	for i := range t.inboxes {
		t.inboxes[i] = make(chan hold, 16)
	}
	start := time.Now()
	for i := range t.inboxes {
		t.wg.Add(1)
		go t.worker(rand.New(rand.NewPCG(cfg.seed, uint64(i)+1)), i)
	}
	t.wg.Add(1)
	go t.misuser(rand.New(rand.NewPCG(cfg.seed, 1<<33)))
	t.controller(ctl, start.Add(cfg.duration))
	runtime.GOMAXPROCS(procs)

	// Quiesce: stop the workers, put every reference in flight.
	t.stop.Store(true)
	t.wg.Wait()
	elapsed := time.Since(start)
	drain := rand.New(rand.NewPCG(cfg.seed, 1<<32))
	for _, in := range t.inboxes {
		for len(in) > 0 {
			h := <-in
			h.o.drop(drain, h.n)
		}
	}

	// Every count must now be exact.
	for i := range t.slots {
		o := t.slots[i].Load()
		if h := o.holders.Load(); h != 0 {
			t.violate("ref %d: %d holders left after quiescing (torture bookkeeping)", o.id, h)
		}
		if o.killedAt != 0 {
			select {
			case <-o.ref.Done():
				t.checkReleased(o)
			default:
				t.violate("ref %d: killed, nothing held, but not released: Read = %d", o.id, o.ref.Read())
			}
			continue
		}
		if v := o.ref.Read(); v != 1 {
			t.violate("ref %d: final Read = %d, want 1 (percpu %v)", o.id, v, o.ref.IsPercpu())
		}
		before := o.releases.Load()
		o.kill()
		if n := o.releases.Load() - before; n != 1 {
			t.violate("ref %d: the final Kill ran release %d times, want 1", o.id, n)
		}
		if v := o.ref.Read(); v != 0 || !o.ref.IsZero() {
			t.violate("ref %d: after the final Kill, Read = %d, IsZero = %v", o.id, v, o.ref.IsZero())
		}
	}
	if r, p, k := t.releases.Load(), t.putTrue.Load(), t.inKill.Load(); r != p+k {
		t.violate("%d releases, but %d Puts returned true and %d releases ran inside Kill", r, p, k)
	}
	return result{
		seed: cfg.seed, elapsed: elapsed, ops: t.ops.Load(), violations: t.violations.Load(),
		releases: t.releases.Load(), kills: t.kills, resurrects: t.resurrects, reinits: t.reinits,
		replaced: t.replaced, switches: t.switches, procs: t.procChanges,
		refs: cfg.refs, goroutines: cfg.goroutines,
		misused: t.misusedRefs.Load(), reports: t.misuseReports.Load(),
	}
}
