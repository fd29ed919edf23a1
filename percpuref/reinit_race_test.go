package percpuref

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReinitRacingTheLastPut calls Reinit the moment the count reads zero,
// while the Put that reached zero may not yet have started release (the
// window the spin model found: model/README.md, finding-reinit-race). Every
// life must release exactly once, in order, and a new life must never be
// marked released by the old life's Put.
func TestReinitRacingTheLastPut(t *testing.T) {
	testHookZero = func() { time.Sleep(50 * time.Microsecond) } // widen the window
	defer func() { testHookZero = nil }()
	var releases atomic.Int64
	r := New(func() { releases.Add(1) }, AllowReinit())
	rounds := 500
	if testing.Short() {
		rounds = 100
	}
	for i := 0; i < rounds; i++ {
		r.Get()
		r.Kill() // the Get is now the last reference
		done := make(chan struct{})
		go func() {
			defer close(done)
			if i%2 == 0 {
				runtime.Gosched()
			}
			r.Put()
		}()
		for !r.IsZero() {
			runtime.Gosched()
		}
		r.Reinit() // the old life's release may still be starting or running
		<-done
		require.Equal(t, int64(i+1), releases.Load(), "round %d: the old life released once", i)
		require.True(t, r.IsPercpu(), "round %d: the new life is per-CPU", i)
		require.False(t, r.IsDying(), "round %d", i)
		require.Equal(t, int64(1), r.Read(), "round %d: the new life holds only the initial reference", i)
		select {
		case <-r.Done():
			t.Fatalf("round %d: the new life's Done is closed before its release", i)
		default:
		}
	}
	r.Kill()
	select {
	case <-r.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the last life's release never ran")
	}
	require.Equal(t, int64(rounds+1), releases.Load())
}
