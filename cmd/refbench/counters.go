package main

import (
	"errors"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/percpuref"
)

// A job is one implementation of one throughput workload, set up and
// ready to run.
type job struct {
	// op performs n operations (n pairs of get and put). Any number of
	// goroutines call it at once.
	op func(n int)
	// stop ends any background work and checks that the count came back to
	// where it started. It may be nil.
	stop func() error
}

// throughput maps each throughput workload to its implementations, in
// report order. killlatency, lifecycle and memory are measured apart
// (killmem.go), and so is killload (killload.go).
var throughput = map[string][]struct {
	impl string
	make func() job
}{
	wGetPut: {
		{iPercpuref, refGetPut},
		{iPercpurefPadded, refGetPutPadded},
		{iPercpurefEager, refGetPutEager},
		{iAtomic, atomicAddAdd},
		{iCAS, casGetPut},
		{iXsync, xsyncIncDec},
	},
	wTryGetLive: {
		{iPercpuref, refTryGetLive},
		{iAtomic, atomicAddAdd},
		{iCAS, casGetPut},
		{iXsync, xsyncIncDec},
	},
	wInitAtomic: {
		{iPercpuref, refInitAtomic},
		{iAtomic, atomicAddAdd},
	},
	wKilledGetPut: {
		{iPercpuref, refKilledGetPut},
		{iAtomic, atomicAddAdd},
	},
	wKilled: {
		{iPercpuref, refKilled},
		{iAtomic, atomicAddAdd},
		{iCAS, casGetPut},
		{iXsync, xsyncIncDec},
	},
	wChurn: {
		{iPercpuref, refChurn},
		{iAtomic, krefChurn},
	},
	wSnapshot: {
		{iPercpuref, snapshotRef},
		{iAtomic, snapshotAtomic},
		{iRWMutex, snapshotRWMutex},
	},
}

// sink keeps the values the loops read alive; it is written once per op
// call, not per operation.
var sink atomic.Int64

var errCount = errors.New("the count did not return to its initial value")

// The Refs measured here are on cache lines of their own, as the atomic
// baseline is (baseline.NewPaddedRef says why).

func refGetPut() job { return getPutJob(baseline.NewPaddedRef(nil)) }

// refGetPutPadded is getput on a Ref with padded shards of its own.
func refGetPutPadded() job {
	return getPutJob(baseline.NewPaddedRef(nil, percpuref.WithShards(0)))
}
func refGetPutEager() job { return getPutJob(baseline.NewPaddedRef(nil, percpuref.Eager())) }

// refInitAtomic is getput on a Ref made with InitAtomic: atomic mode
// throughout, until the Kill that stop makes.
func refInitAtomic() job {
	return getPutJob(baseline.NewPaddedRef(nil, percpuref.InitAtomic()))
}

func getPutJob(r *percpuref.Ref) job {
	return job{
		op: func(n int) {
			for range n {
				r.Get()
				r.Put()
			}
		},
		stop: func() error { return killToZero(r) },
	}
}

func refTryGetLive() job {
	r := baseline.NewPaddedRef(nil)
	return job{
		op: func(n int) {
			for range n {
				if r.TryGetLive() {
					r.Put()
				}
			}
		},
		stop: func() error { return killToZero(r) },
	}
}

// killToZero kills a Ref that holds only its initial reference and checks
// that it was released.
func killToZero(r *percpuref.Ref) error {
	r.Kill()
	if !r.IsZero() {
		return errCount
	}
	return nil
}

// killedRef returns a Ref after Kill, in atomic mode, kept alive by one
// reference, and the stop of a job on it, which drops that reference and
// checks that it was the last.
func killedRef() (*percpuref.Ref, func() error) {
	r := baseline.NewPaddedRef(nil)
	r.Get() // keeps the Ref alive after Kill drops the initial reference
	r.Kill()
	return r, func() error {
		if r.IsPercpu() || !r.Put() {
			return errCount
		}
		return nil
	}
}

func refKilled() job {
	r, stop := killedRef()
	return job{
		op: func(n int) {
			for range n {
				if r.GetUnlessZero() {
					r.Put()
				}
			}
		},
		stop: stop,
	}
}

func refKilledGetPut() job {
	r, stop := killedRef()
	return job{
		op: func(n int) {
			for range n {
				r.Get()
				r.Put()
			}
		},
		stop: stop,
	}
}

// refChurn and krefChurn are lives of the churn workload: make a count
// holding one reference, take and drop another, drop the first, release.
func refChurn() job {
	return churnJob(func(release func()) {
		r := percpuref.New(release)
		r.Get()
		r.Put()
		r.Kill()
	})
}

func krefChurn() job {
	return churnJob(func(release func()) {
		k := baseline.NewKref(release)
		k.Get()
		k.Put()
		k.Put()
	})
}

// churnJob runs lives: each op call runs n of them with a release of its
// own, so that counting the releases shares no word between goroutines,
// and stop checks that every life released.
func churnJob(life func(release func())) job {
	var lives, released atomic.Int64
	return job{
		op: func(n int) {
			got := 0
			release := func() { got++ }
			for range n {
				life(release)
			}
			lives.Add(int64(n))
			released.Add(int64(got))
		},
		stop: func() error {
			if released.Load() != lives.Load() {
				return errNotReleased
			}
			return nil
		},
	}
}

func atomicAddAdd() job {
	c := new(baseline.PaddedInt64)
	c.Store(1)
	return job{
		op: func(n int) {
			for range n {
				c.Add(1)
				c.Add(-1)
			}
		},
		stop: func() error { return checkOne(c.Load()) },
	}
}

func casGetPut() job {
	c := new(baseline.PaddedInt64)
	c.Store(1)
	return job{
		op: func(n int) {
			for range n {
				if c.TryGet() {
					c.Add(-1)
				}
			}
		},
		stop: func() error { return checkOne(c.Load()) },
	}
}

func xsyncIncDec() job {
	c := xsync.NewCounter()
	c.Inc()
	return job{
		op: func(n int) {
			for range n {
				c.Inc()
				c.Dec()
			}
		},
		stop: func() error { return checkOne(c.Value()) },
	}
}

func checkOne(v int64) error {
	if v != 1 {
		return errCount
	}
	return nil
}
