package compare_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/internal/heapmeter"
)

// sinkInt keeps the results of the xsync loop alive.
var sinkInt int64

// The scaffolding shared with percpuref's and the root package's
// benchmarks (internal/benchkit).
var (
	header = benchkit.Header
	modes  = benchkit.Modes
)

func xsyncIncDec(b *testing.B, parallel bool) {
	c := xsync.NewCounter()
	c.Inc()
	if !parallel {
		for i := 0; i < b.N; i++ {
			c.Inc()
			c.Dec()
		}
		sinkInt = c.Value()
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
			c.Dec()
		}
	})
	sinkInt = c.Value()
}

// BenchmarkGetPut is xsync.Counter's Inc/Dec pair beside percpuref's
// BenchmarkGetPut baseline (Add/Add on one shared atomic word)
// and percpuref's Get+Put in per-CPU mode, on a Ref on cache lines of its
// own.
func BenchmarkGetPut(b *testing.B) {
	header()
	modes(b, func(b *testing.B, parallel bool) {
		benchkit.RunImpls(b, parallel, []benchkit.Impl{
			{Name: "atomic", Run: benchkit.AtomicAddAdd},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				r := baseline.NewPaddedRef(nil)
				defer r.Kill()
				benchkit.RefGetPut(b, r, parallel)
			}},
			{Name: "xsync", Run: xsyncIncDec},
		})
	})
}

// noRelease is the release of the kref objects BenchmarkMemory makes.
func noRelease() {}

// memoryImpls are the implementations BenchmarkMemory measures, atomic
// (a baseline.Kref, as in percpuref's BenchmarkMemory) first.
var memoryImpls = []string{"atomic", "xsync"}

// BenchmarkMemory reports the heap bytes per live object, B/ref, of an
// xsync.Counter beside a baseline.Kref: the growth of HeapAlloc, after a
// GC, when refs objects are made and kept live, over refs. It is the
// xsync column of percpuref's BenchmarkMemory (which measures the Ref's
// layouts), made the same way: each measurement in a child
// process of its own (this test binary again, running TestMemoryChild
// only) with GOMAXPROCS set to procs, since an xsync.Counter's stripes
// depend on it; B/ref is the median over the b.N children. ns/op, the time
// of a child, is suppressed.
func BenchmarkMemory(b *testing.B) {
	header()
	benchkit.MemorySweep(b, memoryChild, memoryImpls, nil)
}

// memoryChild runs each measurement of BenchmarkMemory in a new process of
// this test binary, running TestMemoryChild only;
// PERCPU_COMPARE_MEMORY_CHILD, set to "impl,refs", carries the request.
var memoryChild = heapmeter.Child{Test: "TestMemoryChild", Env: "PERCPU_COMPARE_MEMORY_CHILD"}

// TestMemoryChild is the child process of BenchmarkMemory; without
// PERCPU_COMPARE_MEMORY_CHILD in the environment it skips.
func TestMemoryChild(t *testing.T) {
	if !memoryChild.Requested() {
		t.Skip("the child process of BenchmarkMemory; runs only with " + memoryChild.Env + " set")
	}
	if err := memoryChild.Serve(os.Stdout, newMemoryObjects); err != nil {
		t.Fatal(err)
	}
}

// TestMemory runs one small measurement of each implementation through a
// child process, so that go test checks the path BenchmarkMemory takes.
func TestMemory(t *testing.T) {
	for _, im := range memoryImpls {
		s, err := memoryChild.Run(im, 1000, 2)
		if err != nil {
			t.Fatal(err)
		}
		if s.Heap < 8 {
			t.Errorf("%s: %g heap bytes per object, want at least 8", im, s.Heap)
		}
	}
}

// newMemoryObjects fills keep with new objects of impl, one of
// memoryImpls, for TestMemoryChild to measure.
func newMemoryObjects(impl string, keep []any) error {
	switch impl {
	case "atomic":
		for i := range keep {
			keep[i] = baseline.NewKref(noRelease)
		}
	case "xsync":
		for i := range keep {
			keep[i] = xsync.NewCounter()
		}
	default:
		return fmt.Errorf("unknown impl %q", impl)
	}
	return nil
}
