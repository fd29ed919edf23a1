package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/heapmeter"
	"github.com/percpuref/percpu/internal/slots"
	"github.com/percpuref/percpu/percpuref"
	"github.com/percpuref/percpu/shard"
)

// This file holds the workloads that are not throughput: killlatency,
// lifecycle and memory (killload is in killload.go).

// killBatch is how many Refs are made, untimed, before a timed run of
// Kills.
const killBatch = 256

var errNotReleased = errors.New("a Ref that held only its initial reference was not released by Kill")

// shardOpts are the options of a Ref with the given number of shards:
// WithShards(shards), or none for slotsShards (the default layout).
func shardOpts(shards int) []percpuref.Option {
	if shards == slotsShards {
		return nil
	}
	return []percpuref.Option{percpuref.WithShards(shards)}
}

// killLatency measures the mean time of Kill, in ns, on live Refs of the
// given number of shards (shardOpts) that hold only their initial
// reference, so that each Kill folds the shards, switches to atomic mode
// and releases. Refs
// are made outside the timed part, in batches, for about d of timed Kills
// (and at most 2d of wall time).
func killLatency(shards int, d time.Duration) (sample, error) {
	refs := make([]*percpuref.Ref, killBatch)
	var released atomic.Int64
	release := func() { released.Add(1) }
	var timed time.Duration
	kills := 0
	wall := time.Now()
	opts := shardOpts(shards)
	for kills == 0 || (timed < d && time.Since(wall) < 2*d) {
		for i := range refs {
			refs[i] = percpuref.New(release, opts...)
		}
		t := time.Now()
		for _, r := range refs {
			r.Kill()
		}
		timed += time.Since(t)
		kills += len(refs)
	}
	if released.Load() != int64(kills) {
		return sample{}, errNotReleased
	}
	return sample{ops: int64(kills), nsPerOp: float64(timed.Nanoseconds()) / float64(kills)}, nil
}

// lifecycles maps each implementation of the lifecycle workload to a loop
// of n lives: make a count holding one reference, drop it, release.
var lifecycles = map[string]func(n int, release func()){
	iPercpuref: func(n int, release func()) {
		for range n {
			r := percpuref.New(release)
			r.Kill()
		}
	},
	iPercpurefPadded: func(n int, release func()) {
		for range n {
			r := percpuref.New(release, percpuref.WithShards(0))
			r.Kill()
		}
	},
	iPercpurefEager: func(n int, release func()) {
		for range n {
			r := percpuref.New(release, percpuref.Eager())
			r.Kill()
		}
	},
	iPercpurefKillAll: func(n int, release func()) {
		// 64 is KillAll's batch: one membarrier for each.
		batch := make([]*percpuref.Ref, 0, 64)
		for i := range n {
			batch = append(batch, percpuref.New(release, percpuref.Eager()))
			if len(batch) == cap(batch) || i == n-1 {
				percpuref.KillAll(batch...)
				clear(batch)
				batch = batch[:0]
			}
		}
	},
	iPercpurefAsync: func(n int, release func()) {
		// release runs in folder goroutines, two of which may run
		// releases at once: it is serialised here, and the loop ends
		// when the last life has been released.
		var mu sync.Mutex
		var wg sync.WaitGroup
		wg.Add(n)
		released := func() {
			mu.Lock()
			release()
			mu.Unlock()
			wg.Done()
		}
		for range n {
			percpuref.New(released, percpuref.Eager()).KillAsync()
		}
		wg.Wait()
	},
	iAtomic: func(n int, release func()) {
		for range n {
			k := baseline.NewKref(release)
			k.Put()
		}
	},
}

// lifecycleImpls are the implementations of the lifecycle workload, in
// report order.
var lifecycleImpls = []string{iPercpuref, iPercpurefEager, iPercpurefKillAll, iPercpurefAsync, iPercpurefPadded, iAtomic}

// lifecycle measures the mean time, in ns, of one life of impl on one
// goroutine (see lifecycles), over about d, with the garbage collection
// its allocations cause.
func lifecycle(impl string, d time.Duration) (sample, error) {
	live := lifecycles[impl]
	released := 0
	release := func() { released++ }
	runtime.GC()
	n := 0
	t0 := time.Now()
	for n == 0 || time.Since(t0) < d {
		live(opBatch, release)
		n += opBatch
	}
	elapsed := time.Since(t0)
	if released != n {
		return sample{}, errNotReleased
	}
	return sample{ops: int64(n), nsPerOp: float64(elapsed.Nanoseconds()) / float64(n)}, nil
}

// The memory workload measures, for memoryRefs live objects at each of
// memoryProcs GOMAXPROCS (Ps may outnumber the CPUs), the growth of the
// heap per object. The slot arena that percpuref's Refs take their slots
// from never frees a chunk, and a process that has made and dropped Refs
// has free slots that new Refs take without growing the heap; so each
// measurement runs in a fresh process: this binary again, with
// memoryChildEnv in its environment, which checks that its arena is empty.
// The tests change these.
var (
	memoryRefs  = []int{1, 100_000}
	memoryProcs = []int{2, 64}
)

// memoryImpls are the implementations the memory workload measures; cas
// and rwmutex are left out (cas is the word atomic is).
var memoryImpls = []string{iPercpuref, iPercpurefEager, iPercpurefPadded, iAtomic, iXsync}

// memoryOffHeapRefs is the least number of objects for which the off-heap
// growth per object is reported; below, it is noise.
const memoryOffHeapRefs = 1000

// memoryChildEnv, set to "impl,refs", makes the process a memory child:
// main (and the tests' TestMain) call memoryChild instead of running.
const memoryChildEnv = "REFBENCH_MEMORY_CHILD"

// memoryChildTag starts the line on which a child reports.
const memoryChildTag = "refbench-memory:"

// memoryInChild measures n objects of impl in a child process at
// GOMAXPROCS procs.
func memoryInChild(impl string, n, procs int) (sample, error) {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", memoryChildEnv, impl, n), fmt.Sprintf("GOMAXPROCS=%d", procs))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return sample{}, fmt.Errorf("memory child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		rest, ok := strings.CutPrefix(line, memoryChildTag)
		if !ok {
			continue
		}
		s := sample{ops: int64(n)}
		var got int
		if _, err := fmt.Sscan(rest, &got, &s.bytes, &s.offHeap, &s.shards); err != nil {
			return sample{}, fmt.Errorf("memory child: bad line %q: %v", line, err)
		}
		if got != procs {
			return sample{}, fmt.Errorf("memory child ran at GOMAXPROCS %d, not %d", got, procs)
		}
		return s, nil
	}
	return sample{}, fmt.Errorf("memory child reported nothing:\n%s", out)
}

// memoryChild is the whole of a child process: it measures what spec
// ("impl,refs") says and writes one line to stdout, and returns the exit
// status.
func memoryChild(spec string, stdout, stderr io.Writer) int {
	impl, refs, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(refs)
	if err != nil || n < 1 {
		fmt.Fprintf(stderr, "refbench: %s=%q: want impl,refs\n", memoryChildEnv, spec)
		return 2
	}
	heap, off, cells, err := bytesPerObject(impl, n)
	if err != nil {
		fmt.Fprintf(stderr, "refbench: memory child: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s %d %g %g %d\n", memoryChildTag, runtime.GOMAXPROCS(0), heap, off, cells)
	return 0
}

// noRelease is the release of the memory workload's objects: a plain
// function, so that no closure is allocated per object, for percpuref and
// kref alike.
func noRelease() {}

// bytesPerObject makes n objects of impl and keeps them live, and returns
// the growth per object of the heap (HeapAlloc after a GC) and of the
// runtime's off-heap memory (OtherSys, where the record of each
// runtime.AddCleanup lives), and the per-CPU cells of one Ref (0 for the
// others). The slice that holds the objects is allocated before the first
// reading, so it is not counted.
func bytesPerObject(impl string, n int) (heap, offHeap float64, cells int, err error) {
	if s := slots.Stats(); s.Chunks != 0 {
		return 0, 0, 0, fmt.Errorf("the slot arena is not fresh: %+v", s)
	}
	var before, after runtime.MemStats
	keep := make([]any, n)
	heapmeter.WarmThreads()
	heapmeter.Settle(&before)
	switch impl {
	case iPercpuref: // uncontended: no cells are taken
		for i := range keep {
			keep[i] = percpuref.New(noRelease)
		}
	case iPercpurefEager:
		for i := range keep {
			keep[i] = percpuref.New(noRelease, percpuref.Eager())
		}
		slots.WatchPending()                               // the cleanups a Ref that keeps its slot has
		cells = min(runtime.GOMAXPROCS(0), shard.MaxCells) // a slot has a cell per P
	case iPercpurefPadded:
		for i := range keep {
			keep[i] = percpuref.New(noRelease, percpuref.WithShards(0))
		}
		cells = shard.DefaultCells()
	case iAtomic:
		for i := range keep {
			keep[i] = baseline.NewKref(noRelease)
		}
	case iXsync:
		for i := range keep {
			keep[i] = xsync.NewCounter()
		}
	default:
		return 0, 0, 0, fmt.Errorf("no memory measurement for %q", impl)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	heap = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(n)
	offHeap = (float64(after.OtherSys) - float64(before.OtherSys)) / float64(n)
	return heap, offHeap, cells, nil
}
