package percpu_test

import (
	"sync/atomic"
	"testing"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/baseline"
	"github.com/percpuref/percpu/percpuref"
)

// BenchmarkKillConcurrent is the whole life of a Ref killed while other
// goroutines kill theirs: New, a Get and a Put, and Kill, which drops the
// owner's reference and releases; percpuref is a default Ref, which never
// took cells, percpuref-eager one that has them. Serially, one goroutine lives the lives
// one after another; in parallel, GOMAXPROCS goroutines (b.RunParallel)
// live their own at once, and with goroutines=4xP four times as many, so
// that several wait on each P. A Kill in the exclusive protocol waits for a
// membarrier that began after its state store, and concurrent Kills share
// one where they can (quiesce.go): barriers/Kill is how many the process
// issued per life (0 where quiesce makes none: the generic build, the
// fetchadd protocol, and atomic). atomic is the same life of the kref struct
// (baseline.NewKref, a Get and a Put, and the Put that releases). Every
// life must release exactly once.
//
//	go test -run='^$' -bench=KillConcurrent -count=8 . > new.txt
//	benchstat -col /impl new.txt
func BenchmarkKillConcurrent(b *testing.B) {
	header()
	modes(b, func(b *testing.B, parallel bool) {
		runImpls(b, parallel, []impl{
			{Name: "atomic", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 1, krefLife) }},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 1, refLife) }},
			{Name: "percpuref-eager", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 1, eagerLife) }},
		})
	})
	b.Run("goroutines=4xP", func(b *testing.B) {
		runImpls(b, true, []impl{
			{Name: "atomic", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 4, krefLife) }},
			{Name: "percpuref", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 4, refLife) }},
			{Name: "percpuref-eager", Run: func(b *testing.B, parallel bool) { killLives(b, parallel, 4, eagerLife) }},
		})
	})
}

// krefLife and refLife are one life each, releasing through release.
func krefLife(release func()) {
	k := baseline.NewKref(release)
	k.Get()
	k.Put()
	k.Put()
}

func refLife(release func()) {
	r := percpuref.New(release)
	r.Get()
	r.Put()
	r.Kill()
}

// eagerLife is refLife for an Eager Ref, which has its cells from New, as a
// Ref that spread does: its Kill waits for a membarrier.
func eagerLife(release func()) {
	r := percpuref.New(release, percpuref.Eager())
	r.Get()
	r.Put()
	r.Kill()
}

// killLives runs b.N lives, serially or on RunParallel's goroutines (par
// per P), checks that every one released exactly once, and reports the
// membarriers issued per life as barriers/Kill.
func killLives(b *testing.B, parallel bool, par int, life func(release func())) {
	var released atomic.Int64
	release := func() { released.Add(1) }
	b.ReportAllocs()
	barriers := percpu.Barriers()
	if !parallel {
		for i := 0; i < b.N; i++ {
			life(release)
		}
	} else {
		b.SetParallelism(par)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				life(release)
			}
		})
	}
	b.StopTimer()
	if n := released.Load(); n != int64(b.N) {
		b.Fatalf("released %d of %d", n, b.N)
	}
	b.ReportMetric(float64(percpu.Barriers()-barriers)/float64(b.N), "barriers/Kill")
}
