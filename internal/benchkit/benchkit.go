// Package benchkit is the scaffolding that the module's benchmarks share:
// the root package's (its per-architecture primitives), percpuref's (the
// Ref's) and cmd/compare's. It prints the fast path under test once per
// run, runs each benchmark serially and in parallel with an impl= key per
// implementation, holds the loops that every group measures against (the
// atomic.Int64 pair and a Ref's Get+Put), and reports latencies timed one
// by one. Only test files import it.
package benchkit

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/heapmeter"
	"github.com/percpuref/percpu/percpuref"
)

// Sinks keep the results of the measured loops alive.
var (
	SinkBool bool
	SinkInt  int64
)

var printFastPath sync.Once

// Header prints, once per run, the fast path under test as benchstat
// configuration lines (fastpath:, and fastpath-reason: when it is not the
// assembly one), so that results from -tags purego and default builds stay
// attributable. Call it before any sub-benchmark prints a result.
func Header() {
	printFastPath.Do(func() {
		fmt.Printf("fastpath: %s\n", percpu.FastPath())
		if why := percpu.FastPathReason(); why != "" {
			fmt.Printf("fastpath-reason: %s\n", why)
		}
	})
}

// Modes runs f serially and in parallel, as sub-benchmarks named serial
// and parallel.
func Modes(b *testing.B, f func(b *testing.B, parallel bool)) {
	b.Run("serial", func(b *testing.B) { f(b, false) })
	b.Run("parallel", func(b *testing.B) { f(b, true) })
}

// An Impl is one implementation of a benchmark group: its impl= name and
// its loop.
type Impl struct {
	Name string
	Run  func(b *testing.B, parallel bool)
}

// RunImpls runs each implementation as a sub-benchmark named impl=Name.
func RunImpls(b *testing.B, parallel bool, impls []Impl) {
	for _, im := range impls {
		b.Run("impl="+im.Name, func(b *testing.B) { im.Run(b, parallel) })
	}
}

// Each loop below is written out, with no closure or interface call per
// operation, so that what is timed is the pair itself.

// AtomicAddAdd is the baseline: Add(1) and Add(-1) on one shared
// atomic.Int64 on cache lines of its own.
func AtomicAddAdd(b *testing.B, parallel bool) {
	c := new(baseline.PaddedInt64)
	c.Store(1)
	if !parallel {
		var v int64
		for i := 0; i < b.N; i++ {
			c.Add(1)
			v = c.Add(-1)
		}
		SinkInt = v
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		var v int64
		for pb.Next() {
			c.Add(1)
			v = c.Add(-1)
		}
		SinkInt = v
	})
}

// RefGetPut measures Get+Put on r.
func RefGetPut(b *testing.B, r *percpuref.Ref, parallel bool) {
	if !parallel {
		ok := false
		for i := 0; i < b.N; i++ {
			r.Get()
			ok = r.Put()
		}
		SinkBool = ok
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		ok := false
		for pb.Next() {
			r.Get()
			ok = r.Put()
		}
		SinkBool = ok
	})
}

// ReportLatencies reports the mean of lat as ns/op, and its median and
// 99th percentile as p50-ns and p99-ns. It sorts lat.
func ReportLatencies(b *testing.B, lat []time.Duration) {
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	slices.Sort(lat)
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(lat)), "ns/op")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// MemorySweep is the frame of percpuref's and cmd/compare's
// BenchmarkMemory: for refs=1 and 100000 and procs=2 and 64, a
// sub-benchmark refs=N/procs=P/impl=I for each implementation I in impls,
// which runs b.N memory children of c (Child.RunMedian) and reports the
// median heap growth as B/ref; report, if not nil, reports more from the
// medians. ns/op, the time of a child, is suppressed.
func MemorySweep(b *testing.B, c heapmeter.Child, impls []string, report func(b *testing.B, s heapmeter.Sample, n, procs int)) {
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("refs=%d", n), func(b *testing.B) {
			for _, procs := range []int{2, 64} {
				b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
					for _, im := range impls {
						b.Run("impl="+im, func(b *testing.B) {
							s, err := c.RunMedian(im, n, procs, b.N)
							if err != nil {
								b.Fatal(err)
							}
							b.ReportMetric(s.Heap, "B/ref")
							if report != nil {
								report(b, s, n, procs)
							}
							b.ReportMetric(0, "ns/op")
						})
					}
				})
			}
		})
	}
}
