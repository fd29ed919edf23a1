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
}

func (c *config) report() ReportConfig {
	return ReportConfig{
		Duration:   c.duration.String(),
		Goroutines: c.goroutines,
		Impls:      c.impls,
		Workloads:  c.workloads,
		Count:      c.count,
		Shards:     c.shards,
	}
}

// A Result is one measured point: a workload, an implementation and the
// goroutine count (throughput workloads), shard count (killlatency) or
// number of live objects (memory). Metrics that do not apply are absent.
type Result struct {
	Workload   string `json:"workload"`
	Impl       string `json:"impl"`
	Goroutines int    `json:"goroutines,omitempty"`
	Shards     int    `json:"shards,omitempty"` // killlatency; memory: shards per percpuref.Ref
	Refs       int    `json:"refs,omitempty"`   // memory: live objects

	// NsPerOp is ns per operation per goroutine (throughput workloads), or
	// per Kill (killlatency).
	NsPerOp *Summary `json:"ns_per_op,omitempty"`
	// Mops is the aggregate throughput in millions of operations per second.
	Mops *Summary `json:"mops,omitempty"`
	// RatioToAtomic is Mops divided by atomic's Mops in the same
	// repetition (above 1: more throughput than atomic.Int64).
	RatioToAtomic *Summary `json:"ratio_to_atomic,omitempty"`
	// BytesPerRef is the heap growth per live object (memory).
	BytesPerRef *Summary `json:"bytes_per_ref,omitempty"`

	// Samples holds the raw value of each repetition, in run order: ns/op
	// for throughput and killlatency, B/ref for memory.
	Samples []float64 `json:"samples"`
}

// result builds the Result of k from the samples of every repetition.
func result(k key, all map[key][]sample) Result {
	ss := all[k]
	r := Result{Workload: k.workload, Impl: k.impl, Goroutines: k.goroutines, Shards: k.shards, Refs: k.refs}
	pick := func(f func(sample) float64) []float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return xs
	}
	summary := func(xs []float64) *Summary { s := summarize(xs); return &s }
	switch k.workload {
	case wMemory:
		r.Samples = pick(func(s sample) float64 { return s.bytes })
		r.BytesPerRef = summary(r.Samples)
		if len(ss) > 0 {
			r.Shards = ss[0].shards
		}
	case wKillLatency:
		r.Samples = pick(func(s sample) float64 { return s.nsPerOp })
		r.NsPerOp = summary(r.Samples)
	default:
		r.Samples = pick(func(s sample) float64 { return s.nsPerOp })
		r.NsPerOp = summary(r.Samples)
		r.Mops = summary(pick(func(s sample) float64 { return s.mops }))
		base := k
		base.impl = iAtomic
		if bs, ok := all[base]; ok && len(bs) == len(ss) {
			ratios := make([]float64, len(ss))
			for i := range ss {
				ratios[i] = ss[i].mops / bs[i].mops
			}
			r.RatioToAtomic = summary(ratios)
		}
	}
	return r
}
