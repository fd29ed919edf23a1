// Package refcheck checks percpuref.Refs under load against bookkeeping
// kept outside them: which references are held, which life a Ref is in,
// whether its release ran and where. The stress tests of package percpuref
// and the torture command (cmd/reftorture) share it, as the kernel's
// rcutorture and locktorture share their machinery.
//
// A Tracked is one Ref and its bookkeeping; a Pool is a set of places for
// Tracked Refs and the workers that take, hand over and drop references to
// them at random, while the caller's controller kills, resurrects, reinits
// and switches them. The invariants it checks, as it goes and at the end:
//
//   - release runs at most once per life, and never while a holder exists
//     (Holders is incremented as soon as a reference is taken and
//     decremented before it is put; release finds it 0);
//   - every release is accounted for: by exactly one Put that returned
//     true, or by a Kill that it ran inside;
//   - a TryGetLive that starts after Kill returned (and before a Resurrect
//     or Reinit started) never succeeds, and no TryGet succeeds on a
//     released Ref, inside its release or after;
//   - confirm finds the Ref in atomic mode, and Kill's finds it dying;
//   - no misuse is reported;
//   - once nothing uses a Ref, its count is exact (Read), and a live Ref's
//     Kill releases it inside Kill.
//
// Violations go to a Log, which the stress tests turn into a test failure
// and reftorture prints as they happen.
package refcheck

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

// MaxShown is how many violations a Log keeps (and prints) in full; it
// counts the rest.
const MaxShown = 20

// A Log collects violations from any goroutine.
type Log struct {
	// Out, if not nil, gets each of the first MaxShown violations as it is
	// found, as a line "VIOLATION: ...".
	Out io.Writer

	n     atomic.Int64
	mu    sync.Mutex
	first []string
}

// Failf records a violation.
func (l *Log) Failf(format string, args ...any) {
	n := l.n.Add(1)
	if n > MaxShown {
		return
	}
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.first = append(l.first, msg)
	if l.Out != nil {
		fmt.Fprintf(l.Out, "VIOLATION: %s\n", msg)
		if n == MaxShown {
			fmt.Fprintln(l.Out, "(further violations are counted, not printed)")
		}
	}
}

// Count returns the number of violations recorded.
func (l *Log) Count() int64 { return l.n.Load() }

// First returns the first MaxShown violations.
func (l *Log) First() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.first...)
}

// Counts are the releases of one Ref, or of many, and what accounts for
// them.
type Counts struct {
	Releases atomic.Int64 // releases that ran
	InKill   atomic.Int64 // releases that ran inside Kill, KillAll, KillAsync or its folder
	PutTrue  atomic.Int64 // Puts that returned true
}

// Check records a violation, naming who, unless every release is
// accounted for by one Put that returned true or by the Kill it ran inside.
func (c *Counts) Check(log *Log, who string) {
	if r, p, k := c.Releases.Load(), c.PutTrue.Load(), c.InKill.Load(); r != p+k {
		log.Failf("%s: %d releases, but %d Puts returned true and %d releases ran inside Kill", who, r, p, k)
	}
}

// A Tracked is a Ref and the bookkeeping it is checked against.
type Tracked struct {
	Ref  *percpuref.Ref
	Name string // names the Ref in violations
	Log  *Log

	// Revivable is set by the caller if the Ref may go back to per-CPU
	// mode, be resurrected and reinit (made with AllowReinit or
	// InitAtomic).
	Revivable bool
	// Neighbour, if set, is read (Read takes its lock) inside release and
	// confirm: with one lock for all Refs, a callback run with the lock
	// held would deadlock there.
	Neighbour *percpuref.Ref
	// Total, if set, counts the releases of many Refs, this one's among
	// them.
	Total *Counts

	Counts                 // this Ref's releases, over all its lives
	Holders  atomic.Int64  // references held besides the owner's initial one
	Life     atomic.Int64  // lives ended by release and restarted by Reinit
	Released atomic.Bool   // release has run in this life
	Draining atomic.Bool   // workers take no new references
	deadGen  atomic.Uint64 // odd while Kill has returned and no Resurrect/Reinit has started
	mu       sync.Mutex    // the lock PutLocked takes
}

// New makes a Ref with opts and a misuse handler that records every report
// as a violation, and tracks it.
func New(log *Log, name string, opts ...percpuref.Option) *Tracked {
	t := &Tracked{Log: log, Name: name}
	opts = append(opts, percpuref.WithMisuseHandler(func(err error) {
		log.Failf("%s: misuse reported: %v", name, err)
	}))
	t.Ref = percpuref.New(t.release, opts...)
	return t
}

func (t *Tracked) release() {
	life := t.Life.Load()
	if h := t.Holders.Load(); h != 0 {
		t.Log.Failf("%s: release in life %d while %d references are held", t.Name, life, h)
	}
	if !t.Released.CompareAndSwap(false, true) {
		t.Log.Failf("%s: second release in life %d", t.Name, life)
	}
	inKill := calledFromKill()
	t.count(&t.Counts, inKill)
	if t.Total != nil {
		t.count(t.Total, inKill)
	}
	if !t.Ref.IsZero() {
		t.Log.Failf("%s: IsZero false inside release", t.Name)
	}
	if t.Neighbour != nil {
		t.Neighbour.Read()
	}
	runtime.Gosched() // widen the window in which every TryGet must fail
	if t.Ref.TryGet() {
		t.Log.Failf("%s: TryGet succeeded inside release", t.Name)
	}
}

func (t *Tracked) count(c *Counts, inKill bool) {
	c.Releases.Add(1)
	if inKill {
		c.InKill.Add(1)
	}
}

// calledFromKill reports whether the caller runs inside Ref.KillAndConfirm,
// percpuref.KillAll, Ref.KillAsync (a Ref without cells) or the folder
// goroutine that finishes KillAsync's switches.
func calledFromKill() bool {
	pc := make([]uintptr, 32)
	frames := runtime.CallersFrames(pc[:runtime.Callers(2, pc)])
	for {
		f, more := frames.Next()
		if strings.HasSuffix(f.Function, ".(*Ref).KillAndConfirm") || strings.HasSuffix(f.Function, "/percpuref.KillAll") ||
			strings.HasSuffix(f.Function, ".(*Ref).KillAsync") || strings.HasSuffix(f.Function, "/percpuref.(*asyncQueue).fold") {
			return true
		}
		if !more {
			return false
		}
	}
}

// TryAcquire takes new references with one of the TryGet family and
// returns how many it took.
func (t *Tracked) TryAcquire(rng *rand.Rand) int {
	life := t.Life.Load()
	n, ok := 1, false
	switch rng.IntN(4) {
	case 0:
		ok = t.Ref.TryGet()
	case 1:
		ok = t.Ref.GetUnlessZero()
	case 2:
		n = 1 + rng.IntN(4)
		ok = t.Ref.TryGetMany(n)
	case 3:
		gen := t.deadGen.Load()
		ok = t.Ref.TryGetLive()
		if ok && gen&1 == 1 && t.deadGen.Load() == gen {
			t.Log.Failf("%s: TryGetLive succeeded after Kill returned", t.Name)
		}
	}
	if !ok {
		return 0
	}
	t.Holders.Add(int64(n))
	if t.Released.Load() && t.Life.Load() == life {
		t.Log.Failf("%s: TryGet succeeded on a released Ref (life %d)", t.Name, life)
	}
	return n
}

// GetMore takes n more references; the caller holds one.
func (t *Tracked) GetMore(n int) {
	t.Holders.Add(int64(n))
	if n == 1 {
		t.Ref.Get()
	} else {
		t.Ref.GetMany(n)
	}
}

// Drop puts n references, with Put, PutMany or PutLocked.
func (t *Tracked) Drop(rng *rand.Rand, n int) {
	t.Holders.Add(-int64(n))
	trues := 0
	switch rng.IntN(3) {
	case 0:
		for i := 0; i < n; i++ {
			if i > 0 && rng.IntN(4) == 0 {
				runtime.Gosched()
			}
			if t.Ref.Put() {
				trues++
			}
		}
	case 1:
		if t.Ref.PutMany(n) {
			trues++
		}
	case 2:
		for i := 0; i < n; i++ {
			if t.Ref.PutLocked(&t.mu) {
				trues++
			}
		}
	}
	if trues > 1 {
		t.Log.Failf("%s: %d Puts of one batch returned true", t.Name, trues)
	}
	t.PutTrue.Add(int64(trues))
	if t.Total != nil {
		t.Total.PutTrue.Add(int64(trues))
	}
}

// Confirm returns a confirm callback for SwitchToAtomic (dying false) or
// KillAndConfirm (dying true) that checks the Ref's state inside it.
func (t *Tracked) Confirm(dying bool) func() {
	return func() {
		if t.Ref.IsPercpu() {
			t.Log.Failf("%s: IsPercpu inside confirm", t.Name)
		}
		if dying && !t.Ref.IsDying() {
			t.Log.Failf("%s: not IsDying inside Kill's confirm", t.Name)
		}
		if t.Neighbour != nil {
			t.Neighbour.Read()
		}
		runtime.Gosched()
		if dying && t.Ref.TryGetLive() {
			t.Log.Failf("%s: TryGetLive succeeded inside Kill's confirm", t.Name)
		}
	}
}

// Kill kills the Ref and marks it dead for the TryGetLive check.
func (t *Tracked) Kill() {
	t.Ref.KillAndConfirm(t.Confirm(true))
	t.deadGen.Add(1)
}

// KillAsync kills the Ref with KillAsync and marks it dead for the
// TryGetLive check, which must fail from KillAsync's return on.
func (t *Tracked) KillAsync() {
	t.Ref.KillAsync()
	t.deadGen.Add(1)
}

// KillAll kills the Refs of ts with one percpuref.KillAll, and marks each
// dead for the TryGetLive check. No Ref may appear twice, or be dying.
func KillAll(ts []*Tracked) {
	refs := make([]*percpuref.Ref, len(ts))
	for i, t := range ts {
		refs[i] = t.Ref
	}
	percpuref.KillAll(refs...)
	for _, t := range ts {
		t.deadGen.Add(1)
	}
}

// KillResurrect kills the Ref while the caller holds a reference, so that
// Resurrect is well defined, pauses, then resurrects it. The Ref must be
// Revivable and live.
func (t *Tracked) KillResurrect(rng *rand.Rand) {
	t.Holders.Add(1)
	t.Ref.Get()
	t.Kill()
	Pause(rng)
	t.deadGen.Add(1)
	t.Ref.Resurrect()
	if t.Ref.IsDying() {
		t.Log.Failf("%s: IsDying after Resurrect", t.Name)
	}
	t.Holders.Add(-1)
	if t.Ref.Put() {
		t.Log.Failf("%s: Put after Resurrect reported release", t.Name)
	}
}

// CheckReleased checks a Ref whose Done is closed after Kill.
func (t *Tracked) CheckReleased() {
	if !t.Released.Load() {
		t.Log.Failf("%s: Done closed but release did not run", t.Name)
	}
	if v := t.Ref.Read(); v != 0 {
		t.Log.Failf("%s: Read = %d after release", t.Name, v)
	}
	if r, w := t.Releases.Load(), t.Life.Load()+1; r != w {
		t.Log.Failf("%s: %d releases in %d lives", t.Name, r, w)
	}
}

// Reinit starts the next life of a Revivable Ref whose release has run.
func (t *Tracked) Reinit() {
	t.Released.Store(false)
	t.Life.Add(1)
	t.deadGen.Add(1)
	t.Ref.Reinit()
	t.Draining.Store(false)
	if t.Ref.IsDying() || t.Ref.IsZero() {
		t.Log.Failf("%s: dying or zero after Reinit", t.Name)
	}
}

// FinalCheck runs once nothing else uses the Ref. A live Ref must count
// exactly its initial reference, and Kill must then release it inside
// Kill; a dying one must have been released.
func (t *Tracked) FinalCheck() {
	if h := t.Holders.Load(); h != 0 {
		t.Log.Failf("%s: %d holders left once nothing uses it (checker bookkeeping)", t.Name, h)
	}
	if t.Ref.IsDying() {
		select {
		case <-t.Ref.Done():
			t.CheckReleased()
		default:
			t.Log.Failf("%s: killed, nothing held, but not released: Read = %d", t.Name, t.Ref.Read())
		}
	} else {
		if v := t.Ref.Read(); v != 1 {
			t.Log.Failf("%s: final Read = %d, want 1 (percpu %v)", t.Name, v, t.Ref.IsPercpu())
		}
		before := t.Releases.Load()
		t.Kill()
		if n := t.Releases.Load() - before; n != 1 {
			t.Log.Failf("%s: the final Kill ran release %d times, want 1", t.Name, n)
		}
		if v := t.Ref.Read(); v != 0 || !t.Ref.IsZero() {
			t.Log.Failf("%s: after the final Kill, Read = %d, IsZero = %v", t.Name, v, t.Ref.IsZero())
		}
		select {
		case <-t.Ref.Done():
		default:
			t.Log.Failf("%s: Done not closed after the final Kill released", t.Name)
		}
		if r, w := t.Releases.Load(), t.Life.Load()+1; r != w {
			t.Log.Failf("%s: %d releases in %d lives", t.Name, r, w)
		}
	}
	t.Counts.Check(t.Log, t.Name)
}

// Pause waits a random while: not at all, a yield or a few, or up to 200µs.
func Pause(rng *rand.Rand) {
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

// hold is a batch of n references to one Ref, as a worker holds them.
type hold struct {
	t *Tracked
	n int
}

// A Pool is a set of places for Tracked Refs (Refs; "slot" is the word of
// package slots' arena) and the workers that use them: each worker takes
// references with the TryGet family, takes more on those it holds, drops
// them, and hands them to other workers (so that Puts run on other
// goroutines, and other Ps, than the Gets). A worker takes none on a Ref
// that is Draining. The caller fills Refs before Start and may replace any
// of them at any time.
type Pool struct {
	Refs []atomic.Pointer[Tracked]

	// FaultEvery, for tests of the checker only: if it is above 0, every
	// FaultEvery-th operation of a worker puts one reference more than
	// the worker took.
	FaultEvery int

	inboxes []chan hold
	stop    atomic.Bool
	ops     atomic.Int64
	wg      sync.WaitGroup
}

// NewPool returns a Pool of refs empty places for workers workers.
func NewPool(refs, workers int) *Pool {
	p := &Pool{Refs: make([]atomic.Pointer[Tracked], refs), inboxes: make([]chan hold, workers)}
	for i := range p.inboxes {
		p.inboxes[i] = make(chan hold, 16)
	}
	return p
}

// Start runs the workers; worker i draws its choices from
// rand.NewPCG(seed, stream+i).
func (p *Pool) Start(seed, stream uint64) {
	for i := range p.inboxes {
		p.wg.Add(1)
		go p.worker(rand.New(rand.NewPCG(seed, stream+uint64(i))), i)
	}
}

func (p *Pool) worker(rng *rand.Rand, me int) {
	defer p.wg.Done()
	var held []hold
	take := func(i int) hold {
		h := held[i]
		held[i] = held[len(held)-1]
		held = held[:len(held)-1]
		return h
	}
	var ops int64
	for !p.stop.Load() {
		ops++
		if p.FaultEvery > 0 && ops%int64(p.FaultEvery) == 0 && len(held) > 0 {
			held[0].t.Ref.Put() // the injected fault: one Put too many
		}
		switch k := rng.IntN(10); {
		case k < 3:
			if len(held) >= 6 {
				continue
			}
			t := p.Refs[rng.IntN(len(p.Refs))].Load()
			if t == nil || t.Draining.Load() {
				continue
			}
			if n := t.TryAcquire(rng); n > 0 {
				held = append(held, hold{t, n})
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
			h.t.GetMore(n)
			held = append(held, hold{h.t, n})
		case k < 8:
			if len(held) > 0 {
				h := take(rng.IntN(len(held)))
				h.t.Drop(rng, h.n)
			}
		case k < 9:
			if len(held) > 0 {
				i := rng.IntN(len(held))
				select {
				case p.inboxes[rng.IntN(len(p.inboxes))] <- held[i]:
					take(i)
				default:
				}
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
		h.t.Drop(rng, h.n)
	}
	p.ops.Add(ops)
}

// Stop stops the workers and waits for them; each drops what it holds.
// References still on their way between workers stay in the inboxes until
// Drain.
func (p *Pool) Stop() {
	p.stop.Store(true)
	p.wg.Wait()
}

// Stopping reports whether Stop has been called.
func (p *Pool) Stopping() bool { return p.stop.Load() }

// Drain drops the references left in the inboxes, after Stop.
func (p *Pool) Drain(rng *rand.Rand) {
	for _, in := range p.inboxes {
		for len(in) > 0 {
			h := <-in
			h.t.Drop(rng, h.n)
		}
	}
}

// Ops returns the operations the workers made, after Stop.
func (p *Pool) Ops() int64 { return p.ops.Load() }
