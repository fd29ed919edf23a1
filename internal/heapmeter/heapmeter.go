// Package heapmeter holds what the memory measurements of percpuref's
// bench_lifecycle_test.go, cmd/compare and cmd/refbench share: quieting the
// runtime before a heap reading (WarmThreads, Settle), and, for the two
// BenchmarkMemory, the measurement of objects in a child process of their
// own (Child) and the median of the samples (Median, Child.RunMedian).
package heapmeter

import (
	"runtime"
	"sync"
)

// WarmThreads makes the runtime start GOMAXPROCS+4 threads and leaves them
// idle, to be reused. Without it, a thread the runtime starts during a
// measurement (for a GC worker, or to hand a P over from a blocked thread)
// adds its m and g structures, about 5 KB, to the heap: noise that swamps
// a single object.
func WarmThreads() {
	var done, locked sync.WaitGroup
	release := make(chan struct{})
	for range runtime.GOMAXPROCS(0) + 4 {
		done.Add(1)
		locked.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread() // each holds a thread of its own
			locked.Done()
			<-release
			runtime.UnlockOSThread() // and gives it back to the idle pool
		}()
	}
	locked.Wait()
	close(release)
	done.Wait()
}

// Settle collects garbage until the heap stops shrinking (at most a few
// cycles: sync.Pool victims take two), then reads the memory statistics
// into m.
func Settle(m *runtime.MemStats) {
	prev := uint64(0)
	for range 5 {
		runtime.GC()
		runtime.ReadMemStats(m)
		if m.HeapAlloc == prev {
			return
		}
		prev = m.HeapAlloc
	}
}
