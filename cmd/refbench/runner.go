package main

import (
	"fmt"
	"runtime"
	"slices"
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
	shards         int // killlatency, killload: shard count, or slotsShards
	refs, procs    int // memory: live objects, GOMAXPROCS of the child
}

// A sample is one repetition of one point.
type sample struct {
	ops     int64   // operations measured: pairs over all goroutines, Kills, lives, or live objects
	nsPerOp float64 // per goroutine; killlatency, killload: per Kill; lifecycle: per life
	mops    float64 // aggregate, throughput workloads only
	p50     float64 // killload only: median latency of a Kill, ns
	p99     float64 // killload only: 99th percentile latency of a Kill, ns
	bytes   float64 // memory only: heap bytes per object
	offHeap float64 // memory only: off-heap bytes per object
	shards  int     // memory, percpuref only: cells per Ref
}

type task struct {
	key key
	run func() (sample, error)
	// apart marks a measurement made in a child process, whose figure
	// does not depend on what else runs: consecutive ones run
	// concurrently, runtime.NumCPU() at a time. (A child that measures a
	// single object is not apart: the threads and such that the runtime
	// allocates in the background, more often when the CPUs are busy,
	// would show in its figure.)
	apart bool
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
				ts = append(ts, task{key: key{workload: w, impl: iPercpuref, shards: s}, run: func() (sample, error) {
					return killLatency(s, c.duration)
				}})
			}
		case wKillLoad:
			for _, s := range c.shards {
				for _, im := range killLoadImpls {
					if !c.has(im) {
						continue
					}
					ts = append(ts, task{key: key{workload: w, impl: im, shards: s}, run: func() (sample, error) {
						return killLoads[im](s, c.duration)
					}})
				}
			}
		case wLifecycle:
			for _, im := range lifecycleImpls {
				if !c.has(im) {
					continue
				}
				ts = append(ts, task{key: key{workload: w, impl: im}, run: func() (sample, error) {
					return lifecycle(im, c.duration)
				}})
			}
		case wMemory:
			for _, n := range memoryRefs {
				for _, p := range memoryProcs {
					for _, im := range memoryImpls {
						if !c.has(im) {
							continue
						}
						ts = append(ts, task{key: key{workload: w, impl: im, refs: n, procs: p}, run: func() (sample, error) {
							return memoryInChild(im, n, p)
						}, apart: n >= memoryOffHeapRefs})
					}
				}
			}
		default:
			for _, g := range c.goroutines {
				for _, im := range throughput[w] {
					if !c.has(im.impl) {
						continue
					}
					ts = append(ts, task{key: key{workload: w, impl: im.impl, goroutines: g}, run: func() (sample, error) {
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
	return sample{ops: total.Load(), nsPerOp: ns * float64(g) / ops, mops: ops / ns * 1e3}, nil
}

// runAll runs the plan count times, repetition after repetition, and
// gathers the samples into a Report.
func runAll(c *config, prov Provenance, prog *progress) (*Report, error) {
	ts := plan(c)
	samples := make(map[key][]sample, len(ts))
	prog.start(len(ts) * c.count)
	defer prog.finish()
	for rep := range c.count {
		for i := 0; i < len(ts); {
			j := i + 1
			for ts[i].apart && j < len(ts) && ts[j].apart {
				j++
			}
			got, err := runTasks(ts[i:j], func(t task) {
				prog.step(fmt.Sprintf("rep %d/%d %s", rep+1, c.count, t.key))
			})
			if err != nil {
				return nil, err
			}
			for k, t := range ts[i:j] {
				samples[t.key] = append(samples[t.key], got[k])
			}
			i = j
		}
	}
	r := &Report{SchemaVersion: schemaVersion, Provenance: prov, Config: c.report(slices.Contains(c.workloads, wMemory))}
	for _, t := range ts {
		r.Results = append(r.Results, result(t.key, samples))
	}
	r.Spread = spreadOf(r.Results)
	return r, nil
}

// runTasks runs ts, one at a time or, if there are several (which are
// then all apart), runtime.NumCPU() at a time, announcing each as it
// starts, and returns their samples in order or the first error.
func runTasks(ts []task, announce func(task)) ([]sample, error) {
	out := make([]sample, len(ts))
	errs := make([]error, len(ts))
	var mu sync.Mutex // serialises announce
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for i, t := range ts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			mu.Lock()
			announce(t)
			mu.Unlock()
			out[i], errs[i] = t.run()
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", t.key, errs[i])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// String names the point, as the progress line shows it.
func (k key) String() string {
	switch k.workload {
	case wKillLatency, wKillLoad:
		return fmt.Sprintf("%s/%s shards=%s", k.workload, k.impl, shardsName(k.shards))
	case wLifecycle:
		return fmt.Sprintf("%s/%s", k.workload, k.impl)
	case wMemory:
		return fmt.Sprintf("%s/%s refs=%d procs=%d", k.workload, k.impl, k.refs, k.procs)
	default:
		return fmt.Sprintf("%s/%s goroutines=%d", k.workload, k.impl, k.goroutines)
	}
}
