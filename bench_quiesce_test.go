package percpu_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/internal/benchkit"
	"github.com/percpuref/percpu/internal/fastpath"
	"github.com/percpuref/percpu/percpuref"
)

// BenchmarkQuiesce is the part of Kill that waits for the other cores:
// fastpath.Quiesce, the membarrier system call of the assembly fast path
// (nothing in the generic build), each call timed on its own, idle and
// while GOMAXPROCS-1 goroutines (at least one) run Get+Put on Refs of
// their own, as in percpuref's BenchmarkKillLoaded. ns/op is the mean,
// p50-ns and p99-ns as there. The kernel interrupts only the CPUs that run
// a thread of this process at the time, so a busy other core is what makes
// the call wait.
func BenchmarkQuiesce(b *testing.B) {
	benchkit.Header()
	for _, load := range []string{"idle", "busy"} {
		b.Run("load="+load, func(b *testing.B) {
			var (
				stop    atomic.Bool
				started sync.WaitGroup
				wg      sync.WaitGroup
			)
			if load == "busy" {
				for range max(1, runtime.GOMAXPROCS(0)-1) {
					started.Add(1)
					wg.Add(1)
					go func() {
						defer wg.Done()
						own := baseline.NewPaddedRef(nil, percpuref.Eager())
						started.Done()
						for !stop.Load() {
							own.Get()
							own.Put()
						}
						own.Kill()
					}()
				}
			}
			started.Wait()
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t := time.Now()
				fastpath.Quiesce()
				lat = append(lat, time.Since(t))
			}
			b.StopTimer()
			stop.Store(true)
			wg.Wait()
			benchkit.ReportLatencies(b, lat)
		})
	}
}
