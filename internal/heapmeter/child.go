package heapmeter

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Median returns the median of xs, which it sorts: the middle value, or
// the mean of the two middle values when len(xs) is even. xs must not be
// empty.
func Median(xs []float64) float64 {
	slices.Sort(xs)
	m := len(xs) / 2
	if len(xs)%2 == 0 {
		return (xs[m-1] + xs[m]) / 2
	}
	return xs[m]
}

// Sample is what one memory child measured: the growth per object, across
// the making of the objects and after a GC, of the heap
// (MemStats.HeapAlloc) and of the runtime's off-heap memory
// (MemStats.OtherSys).
type Sample struct {
	Heap    float64
	OffHeap float64
}

// Child measures memory in a child process of its own: the current test
// binary again, running only the test named Test, which calls Serve. A
// process that has made and dropped objects may have free memory that new
// objects take without growing the heap, and GOMAXPROCS is best set
// before the runtime starts, so each measurement gets a fresh process.
type Child struct {
	// Test is the name of the test function that serves as the child,
	// such as "TestMemoryChild"; Run runs it alone.
	Test string
	// Env is the environment variable that carries the request,
	// "impl,refs", from Run to the child; unset, the test is no child.
	Env string
}

// reportPrefix starts the line on which a child reports:
// "memory-child: GOMAXPROCS heap off-heap".
const reportPrefix = "memory-child:"

// Run measures n objects of impl in a child process running c.Test with
// GOMAXPROCS set to procs (Ps may outnumber the CPUs), and returns what
// the child reported. It fails, with the child's output, if the child
// fails, reports nothing or reports a bad line, and if it ran at another
// GOMAXPROCS than procs.
func (c Child) Run(impl string, n, procs int) (Sample, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+c.Test+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", c.Env, impl, n), fmt.Sprintf("GOMAXPROCS=%d", procs))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Sample{}, fmt.Errorf("memory child %s: %v\n%s", impl, err, out)
	}
	return parseReport(out, impl, procs)
}

// RunMedian runs times children (Run), one after the other, and returns
// the medians of what they measured: of Heap and, apart, of OffHeap. The
// two BenchmarkMemory run b.N children for each of their results. times
// must be at least 1.
func (c Child) RunMedian(impl string, n, procs, times int) (Sample, error) {
	heap := make([]float64, times)
	off := make([]float64, times)
	for i := range times {
		s, err := c.Run(impl, n, procs)
		if err != nil {
			return Sample{}, err
		}
		heap[i], off[i] = s.Heap, s.OffHeap
	}
	return Sample{Heap: Median(heap), OffHeap: Median(off)}, nil
}

// parseReport finds the child's report in its output out and checks that
// the child ran at GOMAXPROCS procs.
func parseReport(out []byte, impl string, procs int) (Sample, error) {
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, reportPrefix)
		if !ok {
			continue
		}
		var got int
		var s Sample
		if _, err := fmt.Sscan(rest, &got, &s.Heap, &s.OffHeap); err != nil {
			return Sample{}, fmt.Errorf("memory child %s: bad line %q: %v\n%s", impl, line, err, out)
		}
		if got != procs {
			return Sample{}, fmt.Errorf("memory child %s ran at GOMAXPROCS %d, want %d\n%s", impl, got, procs, out)
		}
		return s, nil
	}
	return Sample{}, fmt.Errorf("memory child %s reported nothing:\n%s", impl, out)
}

// Requested reports whether c.Env is set: whether this process is a child
// that Run started, and c.Test should call Serve rather than skip.
func (c Child) Requested() bool {
	return os.Getenv(c.Env) != ""
}

// Serve is the child side of Run: it parses the request in c.Env, makes
// and keeps live n objects of impl with build, measures them, and writes
// the report line that Run reads to w. build fills keep, which has n
// elements, with new objects of impl, or fails for an impl it does not
// know. The slice keep is allocated before the first reading, so it is not
// counted; WarmThreads and Settle quiet the runtime before it.
func (c Child) Serve(w io.Writer, build func(impl string, keep []any) error) error {
	spec := os.Getenv(c.Env)
	impl, refs, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(refs)
	if err != nil || n < 1 {
		return fmt.Errorf("%s=%q: want impl,refs", c.Env, spec)
	}
	s, err := measure(n, func(keep []any) error { return build(impl, keep) })
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s %d %g %g\n", reportPrefix, runtime.GOMAXPROCS(0), s.Heap, s.OffHeap)
	return err
}

// measure makes n objects with build, keeps them live, and returns the
// growth of HeapAlloc and of OtherSys across, after a GC, per object.
func measure(n int, build func(keep []any) error) (Sample, error) {
	keep := make([]any, n)
	var before, after runtime.MemStats
	WarmThreads()
	Settle(&before)
	if err := build(keep); err != nil {
		return Sample{}, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return Sample{
		Heap:    (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n),
		OffHeap: (float64(after.OtherSys) - float64(before.OtherSys)) / float64(n),
	}, nil
}
