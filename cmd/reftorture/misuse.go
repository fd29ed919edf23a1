package main

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percpuref/percpu/percpuref"
)

// misuser injects misuse into Refs of its own while the workers torture
// the others, which share the slot arena and the lock stripes with them:
// the tortured Refs must see no violation. Each misused Ref is made in a
// random mode, released by Kill (or, in atomic mode, by its last Put), and
// then handed to a few goroutines at once that Put, Get, PutMany and
// PutLocked on it (misuse every one) and TryGet it. Its handler counts the
// reports: every misused call must be reported, with Poisoned after those
// that raced to find the count not yet poisoned; release must have run
// exactly once; no TryGet may succeed; and
// the count must read as 0 and stay there. The misuser's figures are in
// the result: misused Refs and misuse reports.
func (t *tortureRun) misuser(rng *rand.Rand) {
	defer t.misuserWG.Done()
	for !t.pool.Stopping() {
		t.misuseOne(rng)
		time.Sleep(time.Millisecond) // leave the CPUs to the torture proper
	}
}

func (t *tortureRun) misuseOne(rng *rand.Rand) {
	var releases, reports, poisoned, granted atomic.Int64
	opts := []percpuref.Option{percpuref.WithMisuseHandler(func(err error) {
		var me *percpuref.MisuseError
		if !errors.As(err, &me) {
			t.violate("misused Ref: a report that is not a *MisuseError: %v", err)
			return
		}
		reports.Add(1)
		if me.Poisoned {
			poisoned.Add(1)
		}
	})}
	atomicMode := rng.IntN(3) == 0
	switch rng.IntN(4) {
	case 0:
		opts = append(opts, percpuref.Eager())
	case 1:
		opts = append(opts, percpuref.WithShards(rng.IntN(4)+1))
	case 2:
		opts = append(opts, percpuref.AllowReinit())
	}
	if atomicMode {
		opts = append(opts, percpuref.InitAtomic())
	}
	r := percpuref.New(func() { releases.Add(1) }, opts...)
	r.Get()
	if atomicMode {
		r.Put()
		r.Put() // the last reference: releases
	} else {
		r.Kill()
		r.Put() // the last reference: releases
	}
	if releases.Load() != 1 {
		t.violate("misused Ref: release ran %d times before any misuse, want 1", releases.Load())
		return
	}

	const goroutines, each = 4, 16
	var wg sync.WaitGroup
	var misused atomic.Int64
	for g := range goroutines {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 7))
			var mu sync.Mutex
			for range each {
				switch rng.IntN(5) {
				case 0:
					r.Put()
				case 1:
					r.Get()
				case 2:
					r.PutMany(rng.IntN(3) + 1)
				case 3:
					r.PutLocked(&mu)
				case 4:
					if r.TryGet() || r.TryGetLive() {
						granted.Add(1)
					}
					continue // a failed try is not misuse
				}
				misused.Add(1)
			}
		}(rng.Uint64() + uint64(g))
	}
	wg.Wait()
	t.misusedRefs.Add(1)
	t.misuseReports.Add(reports.Load())
	// Every misused call is reported. The ones that found the count not yet
	// poisoned (at least the first; a few more if they raced it, at most
	// one per goroutine) report a count; every later one reports Poisoned.
	first := misused.Load() - poisoned.Load()
	switch {
	case reports.Load() != misused.Load():
		t.violate("misused Ref: %d misused calls, %d reports", misused.Load(), reports.Load())
	case misused.Load() > 0 && (first < 1 || first > goroutines):
		t.violate("misused Ref: %d of %d reports were not Poisoned, want 1 to %d", first, misused.Load(), goroutines)
	}
	if n := releases.Load(); n != 1 {
		t.violate("misused Ref: release ran %d times, want 1", n)
	}
	if granted.Load() != 0 {
		t.violate("misused Ref: %d TryGets succeeded after release", granted.Load())
	}
	if v := r.Read(); v != 0 || !r.IsZero() {
		t.violate("misused Ref: Read = %d, IsZero = %v after release and misuse, want 0, true", v, r.IsZero())
	}
}
