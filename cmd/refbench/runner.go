package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// opBatch is how many operations a goroutine does between two looks at the
// stop flag.
const opBatch = 256

// key names one measured point.
type key struct {
	workload, impl string
	goroutines     int // throughput workloads
	shards         int // killlatency
	refs           int // memory
}

// A sample is one repetition of one point.
type sample struct {
	nsPerOp float64 // per goroutine; for killlatency, per Kill
	mops    float64 // aggregate, throughput workloads only
	bytes   float64 // memory only
	shards  int     // memory, percpuref only
}

type task struct {
	key key
	run func() (sample, error)
}

// plan lists the measurements of one repetition, in the order they run
// and are reported. Implementations of a point run back to back, so that
// they see the same machine and their ratios hold within a repetition.
func plan(c *config) []task {
	var ts []task
	for _, w := range c.workloads {
		switch w {
		case wKillLatency:
			if !c.has(iPercpuref) {
				continue
			}
			for _, s := range c.shards {
				ts = append(ts, task{key{workload: w, impl: iPercpuref, shards: s}, func() (sample, error) {
					ns, err := killLatency(s, c.duration)
					return sample{nsPerOp: ns}, err
				}})
			}
		case wMemory:
			for _, n := range memoryRefs {
				for _, im := range memoryImpls {
					if !c.has(im) {
						continue
					}
					ts = append(ts, task{key{workload: w, impl: im, refs: n}, func() (sample, error) {
						b, s := bytesPerRef(im, n)
						return sample{bytes: b, shards: s}, nil
					}})
				}
			}
		default:
			for _, g := range c.goroutines {
				for _, im := range throughput[w] {
					if !c.has(im.impl) {
						continue
					}
					ts = append(ts, task{key{workload: w, impl: im.impl, goroutines: g}, func() (sample, error) {
						return measure(im.make, g, c.duration)
					}})
				}
			}
		}
	}
	return ts
}

// measure runs a fresh job on g goroutines for about d and returns the time
// per operation per goroutine and the aggregate throughput.
func measure(mk func() job, g int, d time.Duration) (sample, error) {
	runtime.GC() // leave no garbage of the previous measurement to collect
	j := mk()
	var (
		stop        atomic.Bool
		total       atomic.Int64
		ready, done sync.WaitGroup
	)
	start := make(chan struct{})
	for range g {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			var ops int64
			for !stop.Load() {
				j.op(opBatch)
				ops += opBatch
			}
			total.Add(ops)
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	time.Sleep(d)
	stop.Store(true)
	done.Wait()
	elapsed := time.Since(t0)
	if j.stop != nil {
		if err := j.stop(); err != nil {
			return sample{}, err
		}
	}
	ops := float64(total.Load())
	ns := float64(elapsed.Nanoseconds())
	return sample{nsPerOp: ns * float64(g) / ops, mops: ops / ns * 1e3}, nil
}

// runAll runs the plan count times, repetition after repetition, and
// gathers the samples into a Report.
func runAll(c *config, prov Provenance, prog *progress) (*Report, error) {
	ts := plan(c)
	samples := make(map[key][]sample, len(ts))
	prog.start(len(ts) * c.count)
	defer prog.finish()
	for rep := range c.count {
		for _, t := range ts {
			prog.step(fmt.Sprintf("rep %d/%d %s", rep+1, c.count, t.key))
			s, err := t.run()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.key, err)
			}
			samples[t.key] = append(samples[t.key], s)
		}
	}
	r := &Report{Provenance: prov, Config: c.report()}
	for _, t := range ts {
		r.Results = append(r.Results, result(t.key, samples))
	}
	return r, nil
}

func (k key) String() string {
	switch {
	case k.goroutines > 0:
		return fmt.Sprintf("%s/%s goroutines=%d", k.workload, k.impl, k.goroutines)
	case k.shards > 0:
		return fmt.Sprintf("%s/%s shards=%d", k.workload, k.impl, k.shards)
	default:
		return fmt.Sprintf("%s/%s refs=%d", k.workload, k.impl, k.refs)
	}
}
