package main

// A Report is everything one run of refbench measured; -json writes it.
type Report struct {
	Provenance Provenance   `json:"provenance"`
	Config     ReportConfig `json:"config"`
	Results    []Result     `json:"results"`
}

// ReportConfig records the flags that shaped the run.
type ReportConfig struct {
	Duration   string   `json:"duration"` // per measurement, as a Go duration
	Goroutines []int    `json:"goroutines"`
	Impls      []string `json:"impls"`
	Workloads  []string `json:"workloads"`
	Count      int      `json:"count"`
	Shards     []int    `json:"shards"`
	// MemoryRefs and MemoryProcs are the numbers of live objects and the
	// GOMAXPROCS of the memory workload's children, if it ran.
	MemoryRefs  []int `json:"memory_refs,omitempty"`
	MemoryProcs []int `json:"memory_procs,omitempty"`
}

func (c *config) report(memory bool) ReportConfig {
	rc := ReportConfig{
		Duration:   c.duration.String(),
		Goroutines: c.goroutines,
		Impls:      c.impls,
		Workloads:  c.workloads,
		Count:      c.count,
		Shards:     c.shards,
	}
	if memory {
		rc.MemoryRefs, rc.MemoryProcs = memoryRefs, memoryProcs
	}
	return rc
}

// A Result is one measured point: a workload, an implementation and the
// goroutine count (throughput workloads), shard count (killlatency) or
// number of live objects and GOMAXPROCS (memory). Metrics that do not apply
// are absent.
type Result struct {
	Workload   string `json:"workload"`
	Impl       string `json:"impl"`
	Goroutines int    `json:"goroutines,omitempty"`
	Shards     int    `json:"shards,omitempty"` // killlatency, killload (absent: the default slots); memory: per-CPU cells per percpuref.Ref
	Refs       int    `json:"refs,omitempty"`   // memory: live objects
	Procs      int    `json:"procs,omitempty"`  // memory: GOMAXPROCS of the measuring process

	// NsPerOp is ns per operation per goroutine (throughput workloads), per
	// Kill (killlatency; killload: the mean), or per life (lifecycle).
	NsPerOp *Summary `json:"ns_per_op,omitempty"`
	// P50 and P99 are the median and 99th percentile latency of a Kill,
	// in ns (killload).
	P50 *Summary `json:"p50_ns,omitempty"`
	P99 *Summary `json:"p99_ns,omitempty"`
	// Mops is the aggregate throughput in millions of operations per second.
	Mops *Summary `json:"mops,omitempty"`
	// RatioToAtomic is Mops divided by atomic's Mops in the same
	// repetition (above 1: more throughput than atomic.Int64); for
	// lifecycle, atomic's NsPerOp divided by this one's, which is the same
	// ratio of lives per second; for killload, atomic's mean Kill (the
	// kref's last Put) divided by this one's.
	RatioToAtomic *Summary `json:"ratio_to_atomic,omitempty"`
	// BytesPerRef is the heap growth per live object (memory).
	BytesPerRef *Summary `json:"bytes_per_ref,omitempty"`
	// OffHeapPerRef is the growth of the runtime's off-heap memory
	// (runtime.MemStats.OtherSys) per live object (memory, with at least
	// 1000 objects): the record of the runtime.AddCleanup that a default
	// percpuref.Ref registers lives there, not in the heap.
	OffHeapPerRef *Summary `json:"offheap_bytes_per_ref,omitempty"`

	// Samples holds the raw value of each repetition, in run order: ns/op
	// for throughput, killlatency, killload and lifecycle, B/ref for
	// memory.
	Samples []float64 `json:"samples"`
}

// result builds the Result of k from the samples of every repetition.
func result(k key, all map[key][]sample) Result {
	ss := all[k]
	r := Result{Workload: k.workload, Impl: k.impl, Goroutines: k.goroutines, Shards: k.shards, Refs: k.refs, Procs: k.procs}
	pick := func(f func(sample) float64) []float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return xs
	}
	summary := func(xs []float64) *Summary { s := summarize(xs); return &s }
	// ratio is the median over repetitions of f(this) / f(atomic's), if
	// atomic ran as often.
	ratio := func(f func(this, atomic sample) float64) *Summary {
		base := k
		base.impl = iAtomic
		bs, ok := all[base]
		if !ok || len(bs) != len(ss) {
			return nil
		}
		ratios := make([]float64, len(ss))
		for i := range ss {
			ratios[i] = f(ss[i], bs[i])
		}
		return summary(ratios)
	}
	switch k.workload {
	case wMemory:
		r.Samples = pick(func(s sample) float64 { return s.bytes })
		r.BytesPerRef = summary(r.Samples)
		if k.refs >= memoryOffHeapRefs {
			r.OffHeapPerRef = summary(pick(func(s sample) float64 { return s.offHeap }))
		}
		if len(ss) > 0 {
			r.Shards = ss[0].shards
		}
	case wKillLatency:
		r.Samples = pick(func(s sample) float64 { return s.nsPerOp })
		r.NsPerOp = summary(r.Samples)
	case wLifecycle:
		r.Samples = pick(func(s sample) float64 { return s.nsPerOp })
		r.NsPerOp = summary(r.Samples)
		r.RatioToAtomic = ratio(func(s, a sample) float64 { return a.nsPerOp / s.nsPerOp })
	case wKillLoad:
		r.Samples = pick(func(s sample) float64 { return s.nsPerOp })
		r.NsPerOp = summary(r.Samples)
		r.P50 = summary(pick(func(s sample) float64 { return s.p50 }))
		r.P99 = summary(pick(func(s sample) float64 { return s.p99 }))
		r.RatioToAtomic = ratio(func(s, a sample) float64 { return a.nsPerOp / s.nsPerOp })
	default:
		r.Samples = pick(func(s sample) float64 { return s.nsPerOp })
		r.NsPerOp = summary(r.Samples)
		r.Mops = summary(pick(func(s sample) float64 { return s.mops }))
		r.RatioToAtomic = ratio(func(s, a sample) float64 { return s.mops / a.mops })
	}
	return r
}
