package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percpuref/percpu/internal/refcheck"
	"github.com/percpuref/percpu/percpuref"
)

// tortureRun is one run of the torture. The Refs, their bookkeeping and
// the workers that use them are package refcheck's, which the stress tests
// of package percpuref use too; the controller and the misuser are here.
type tortureRun struct {
	cfg    config
	log    refcheck.Log
	pool   *refcheck.Pool
	total  refcheck.Counts // the releases of every Ref tortured
	nextID int             // controller-only

	// killedAt is, for each of pool.Refs, the controller step of the Kill
	// whose release it waits for; 0 if that Ref is live. Controller-only.
	killedAt []int

	// Controller totals.
	kills, batches, asyncs, resurrects, reinits, replaced, switches, procChanges int64

	// The misuser's (misuse.go).
	misuserWG                  sync.WaitGroup
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
	batches    int64 // KillAll calls, each killing one to four of the kills
	asyncs     int64 // kills made with KillAsync
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
	fmt.Fprintf(w, "controller: %d kills (%d KillAll batches and %d KillAsyncs among them), %d resurrects, %d reinits, %d Refs replaced, %d switches, %d GOMAXPROCS changes; %d releases\n",
		r.kills, r.batches, r.asyncs, r.resurrects, r.reinits, r.replaced, r.switches, r.procs, r.releases)
	fmt.Fprintf(w, "misuse: %d Refs misused after release, %d misuse reports\n", r.misused, r.reports)
	fmt.Fprintf(w, "violations: %d\n", r.violations)
	if r.violations == 0 {
		fmt.Fprintln(w, "PASS")
	} else {
		fmt.Fprintln(w, "FAIL")
	}
}

// violate records a violation and prints the first few.
func (t *tortureRun) violate(format string, args ...any) { t.log.Failf(format, args...) }

// newObject makes and tracks a Ref: with AllowReinit if reinit, and
// InitAtomic if atomicMode; every other Ref is Eager, the rest Lazy.
func (t *tortureRun) newObject(reinit, atomicMode bool) *refcheck.Tracked {
	t.nextID++
	var opts []percpuref.Option
	if reinit {
		opts = append(opts, percpuref.AllowReinit())
	}
	if atomicMode {
		opts = append(opts, percpuref.InitAtomic())
	}
	if t.nextID%2 == 0 {
		opts = append(opts, percpuref.Eager()) // else the default, Lazy: cells at the first contention
	}
	o := refcheck.New(&t.log, fmt.Sprintf("ref %d", t.nextID), opts...)
	o.Revivable = reinit || atomicMode
	o.Total = &t.total
	return o
}

// controller runs the lives of the objects until the deadline.
func (t *tortureRun) controller(rng *rand.Rand, deadline time.Time) {
	step := 0
	for time.Now().Before(deadline) {
		step++
		i := rng.IntN(len(t.pool.Refs))
		o := t.pool.Refs[i].Load()
		if t.killedAt[i] != 0 {
			// Killed earlier: drain it after a while, and once released,
			// reinit it or replace it.
			if step-t.killedAt[i] > 4 {
				o.Draining.Store(true)
			}
			select {
			case <-o.Ref.Done():
			default:
				continue
			}
			o.CheckReleased()
			t.killedAt[i] = 0
			if o.Revivable && rng.IntN(4) != 0 {
				o.Reinit()
				t.reinits++
			} else {
				t.pool.Refs[i].Store(t.newObject(rng.IntN(2) == 0, rng.IntN(4) == 0))
				t.replaced++
			}
			continue
		}
		switch k := rng.IntN(20); {
		case k < 2: // Kill; release comes with the last Put
			o.Kill()
			t.killedAt[i] = step
			t.kills++
		case k < 4: // KillAll of this Ref and up to three others not yet killed
			group := []*refcheck.Tracked{o}
			t.killedAt[i] = step
			for _, j := range rng.Perm(len(t.pool.Refs))[:min(4, len(t.pool.Refs))] {
				if len(group) < 4 && t.killedAt[j] == 0 {
					group = append(group, t.pool.Refs[j].Load())
					t.killedAt[j] = step
				}
			}
			refcheck.KillAll(group)
			t.kills += int64(len(group))
			t.batches++
		case k < 5: // KillAsync; the folder or the last Put releases
			o.KillAsync()
			t.killedAt[i] = step
			t.kills++
			t.asyncs++
		case k < 8 && o.Revivable: // Kill and Resurrect, holding a reference across
			o.KillResurrect(rng)
			t.kills++
			t.resurrects++
		case k < 12:
			o.Ref.SwitchToAtomic(o.Confirm(false))
			t.switches++
		case k < 14:
			o.Ref.SwitchToAtomicSync()
			t.switches++
		case k < 18:
			if o.Revivable {
				o.Ref.SwitchToPercpu()
				t.switches++
			}
		default:
			runtime.GOMAXPROCS(1 + rng.IntN(t.cfg.maxProcs))
			t.procChanges++
		}
		refcheck.Pause(rng)
	}
}

// torture runs the torture described by cfg and returns its figures.
func torture(cfg config, stdout, stderr io.Writer) result {
	t := &tortureRun{cfg: cfg}
	t.log.Out = stderr
	fmt.Fprintf(stdout, "reftorture: seed %d (replays the random choices, not the schedule); %d Refs, %d goroutines, GOMAXPROCS 1..%d, for %v\n",
		cfg.seed, cfg.refs, cfg.goroutines, cfg.maxProcs, cfg.duration)
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	ctl := rand.New(rand.NewPCG(cfg.seed, 0))
	t.pool = refcheck.NewPool(cfg.refs, cfg.goroutines)
	t.pool.FaultEvery = cfg.faultEvery
	t.killedAt = make([]int, cfg.refs)
	for i := range t.pool.Refs {
		t.pool.Refs[i].Store(t.newObject(ctl.IntN(2) == 0, ctl.IntN(4) == 0))
	}
	start := time.Now()
	t.pool.Start(cfg.seed, 1)
	t.misuserWG.Add(1)
	go t.misuser(rand.New(rand.NewPCG(cfg.seed, 1<<33)))
	t.controller(ctl, start.Add(cfg.duration))
	runtime.GOMAXPROCS(procs)

	// Quiesce: stop the workers and the misuser, put every reference in
	// flight.
	t.pool.Stop()
	t.misuserWG.Wait()
	elapsed := time.Since(start)
	t.pool.Drain(rand.New(rand.NewPCG(cfg.seed, 1<<32)))

	// Every count must now be exact.
	for i := range t.pool.Refs {
		t.pool.Refs[i].Load().FinalCheck()
	}
	t.total.Check(&t.log, "in all")
	return result{
		seed: cfg.seed, elapsed: elapsed, ops: t.pool.Ops(), violations: t.log.Count(),
		releases: t.total.Releases.Load(), kills: t.kills, batches: t.batches, asyncs: t.asyncs, resurrects: t.resurrects, reinits: t.reinits,
		replaced: t.replaced, switches: t.switches, procs: t.procChanges,
		refs: cfg.refs, goroutines: cfg.goroutines,
		misused: t.misusedRefs.Load(), reports: t.misuseReports.Load(),
	}
}
