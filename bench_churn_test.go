package percpu_test

import (
	"sync/atomic"
	"testing"

	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/percpuref"
)

// BenchmarkChurn is the whole life of a reference count that is used once:
// make it, take and drop one reference, drop the owner's reference, which
// releases; serially, and from GOMAXPROCS goroutines at once
// (b.RunParallel), each running lives of its own, so that the lives share
// nothing but the allocator, the slot arena and the machine. atomic is the
// kref struct (allocate, Store(1), Get, Put, Put reaches 0, release);
// percpuref is New, Get, Put and Kill with slots in the shared slabs,
// whose slot goes back to the arena after the next GC. The GC work that
// the allocations cause is part of the cost, as it is for a user.
// BenchmarkLifecycle is the serial life without the Get and Put.
func BenchmarkChurn(b *testing.B) {
	header()
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{Name: "atomic", Run: func(b *testing.B, parallel bool) {
				lives(b, parallel, func(release func()) {
					k := baseline.NewKref(release)
					k.Get()
					k.Put()
					k.Put()
				})
			}},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) {
				lives(b, parallel, func(release func()) {
					r := percpuref.New(release)
					r.Get()
					r.Put()
					r.Kill()
				})
			}},
		})
	})
}

// lives runs life b.N times, serially or spread over RunParallel's
// goroutines, and checks that every life ran its release. Each goroutine
// counts its releases on its own, so that counting them shares no word
// between the goroutines.
func lives(b *testing.B, parallel bool, life func(release func())) {
	b.ReportAllocs()
	var released atomic.Int64
	if !parallel {
		n := 0
		release := func() { n++ }
		for i := 0; i < b.N; i++ {
			life(release)
		}
		released.Add(int64(n))
	} else {
		b.RunParallel(func(pb *testing.PB) {
			n := 0
			release := func() { n++ }
			for pb.Next() {
				life(release)
			}
			released.Add(int64(n))
		})
	}
	b.StopTimer()
	if got := released.Load(); got != int64(b.N) {
		b.Fatalf("released %d of %d", got, b.N)
	}
}
