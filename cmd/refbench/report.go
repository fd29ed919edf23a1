package main

// A Report is everything one run of refbench measured; -json writes it.
type Report struct {
	// SchemaVersion is schemaVersion: a reader checks it before the rest.
	SchemaVersion int          `json:"schema_version"`
	Provenance    Provenance   `json:"provenance"`
	Config        ReportConfig `json:"config"`
	Results       []Result     `json:"results"`
	// Spread says how noisy the run was, and so which differences it can
	// resolve; absent where no point had two repetitions or more.
	Spread *Spread `json:"spread,omitempty"`
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
	// kref's last Put) divided by this one's. Its median and confidence
	// interval are over the repetitions' ratios.
	RatioToAtomic *Summary `json:"ratio_to_atomic,omitempty"`
	// VsAtomic tests whether this implementation's measurements (Mops, or
	// NsPerOp where the ratio is of times) differ from atomic's: a ratio
	// whose test is not significant is printed as "~". Absent for atomic.
	VsAtomic *Comparison `json:"vs_atomic,omitempty"`
	// BytesPerRef is the heap growth per live object (memory).
	BytesPerRef *Summary `json:"bytes_per_ref,omitempty"`
	// OffHeapPerRef is the growth of the runtime's off-heap memory
	// (runtime.MemStats.OtherSys) per live object (memory, with at least
	// 1000 objects): the record of the runtime.AddCleanup that a default
	// percpuref.Ref registers lives there, not in the heap.
	OffHeapPerRef *Summary `json:"offheap_bytes_per_ref,omitempty"`

	// Reps holds every repetition's raw measurements, in run order: the
	// values that -format bench writes, one line each.
	Reps []Rep `json:"reps"`
}

// A Rep is one repetition of one point, as -format bench writes it.
type Rep struct {
	// Ops is the number of operations measured: Get+Put pairs (or what
	// the workload's operation is) over all goroutines, Kills, lives, or
	// live objects (memory).
	Ops int64 `json:"ops"`
	// Values maps units (those of the Go benchmark format: ns/op, ops/s,
	// p50-ns, p99-ns, B/ref, offheap-B/ref) to the measured values.
	Values map[string]float64 `json:"values"`
}

// Units of the bench format and of Rep.Values.
const (
	unitNsPerOp = "ns/op"         // per goroutine, per Kill or per life
	unitOpsPerS = "ops/s"         // aggregate throughput
	unitP50     = "p50-ns"        // killload: median Kill
	unitP99     = "p99-ns"        // killload: 99th percentile Kill
	unitBytes   = "B/ref"         // memory: heap bytes per live object
	unitOffHeap = "offheap-B/ref" // memory: off-heap bytes per live object
)

// values are the measurements of s at point k, as unit and value, in the
// order the bench format writes them.
func (s sample) values(k key) []unitValue {
	switch k.workload {
	case wMemory:
		if k.refs < memoryOffHeapRefs {
			return []unitValue{{unitBytes, s.bytes}}
		}
		return []unitValue{{unitBytes, s.bytes}, {unitOffHeap, s.offHeap}}
	case wKillLatency, wLifecycle:
		return []unitValue{{unitNsPerOp, s.nsPerOp}}
	case wKillLoad:
		return []unitValue{{unitNsPerOp, s.nsPerOp}, {unitP50, s.p50}, {unitP99, s.p99}}
	default:
		return []unitValue{{unitNsPerOp, s.nsPerOp}, {unitOpsPerS, s.mops * 1e6}}
	}
}

type unitValue struct {
	unit  string
	value float64
}

// result builds the Result of k from the samples of every repetition.
func result(k key, all map[key][]sample) Result {
	ss := all[k]
	r := Result{Workload: k.workload, Impl: k.impl, Goroutines: k.goroutines, Shards: k.shards, Refs: k.refs, Procs: k.procs}
	for _, s := range ss {
		rep := Rep{Ops: s.ops, Values: map[string]float64{}}
		for _, v := range s.values(k) {
			rep.Values[v.unit] = v.value
		}
		r.Reps = append(r.Reps, rep)
	}
	pick := func(ss []sample, f func(sample) float64) []float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return xs
	}
	summary := func(f func(sample) float64) *Summary { s := summarize(pick(ss, f)); return &s }
	ns := func(s sample) float64 { return s.nsPerOp }
	mops := func(s sample) float64 { return s.mops }
	// ratio sets the ratio to atomic, the median over repetitions of
	// f(this) / f(atomic's) in the same repetition, and the test of m's
	// samples against atomic's, if atomic ran as often.
	ratio := func(f func(this, atomic sample) float64, m func(sample) float64) {
		base := k
		base.impl = iAtomic
		bs, ok := all[base]
		if !ok || len(bs) != len(ss) {
			return
		}
		ratios := make([]float64, len(ss))
		for i := range ss {
			ratios[i] = f(ss[i], bs[i])
		}
		s := summarize(ratios)
		r.RatioToAtomic = &s
		if k.impl != iAtomic {
			r.VsAtomic = compare(pick(ss, m), pick(bs, m))
		}
	}
	switch k.workload {
	case wMemory:
		r.BytesPerRef = summary(func(s sample) float64 { return s.bytes })
		if k.refs >= memoryOffHeapRefs {
			r.OffHeapPerRef = summary(func(s sample) float64 { return s.offHeap })
		}
		if len(ss) > 0 {
			r.Shards = ss[0].shards
		}
	case wKillLatency:
		r.NsPerOp = summary(ns)
	case wLifecycle:
		r.NsPerOp = summary(ns)
		ratio(func(s, a sample) float64 { return a.nsPerOp / s.nsPerOp }, ns)
	case wKillLoad:
		r.NsPerOp = summary(ns)
		r.P50 = summary(func(s sample) float64 { return s.p50 })
		r.P99 = summary(func(s sample) float64 { return s.p99 })
		ratio(func(s, a sample) float64 { return a.nsPerOp / s.nsPerOp }, ns)
	default:
		r.NsPerOp = summary(ns)
		r.Mops = summary(mops)
		ratio(func(s, a sample) float64 { return s.mops / a.mops }, mops)
	}
	return r
}
