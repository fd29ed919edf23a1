package percpuref

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Lazy Ref has per-CPU semantics from the start, with no cells until it
// is contended.
func TestLazyStartsWithoutCells(t *testing.T) {
	var released atomic.Int32
	r := New(func() { released.Add(1) }, Lazy())
	assert.Nil(t, r.cells.Base, "white-box: no cells yet")
	assert.True(t, r.IsPercpu())
	r.GetMany(5)
	for i := 0; i < 5; i++ {
		assert.False(t, r.Put(), "per-CPU mode: Put never releases")
	}
	assert.Equal(t, int64(1), r.Read())
	r.Get()
	r.Kill()
	assert.False(t, r.TryGetLive())
	assert.Zero(t, released.Load())
	assert.True(t, r.Put())
	assert.Equal(t, int32(1), released.Load())
	assert.Nil(t, r.cells.Base, "white-box: an uncontended Ref never took cells")
}

// An underflow in a Lazy Ref is found where the kernel finds it in per-CPU
// mode, at Kill, and never releases early.
func TestLazyUnderflowFoundAtKill(t *testing.T) {
	var errs []error
	var released atomic.Int32
	r := New(func() { released.Add(1) }, Lazy(), WithMisuseHandler(func(err error) { errs = append(errs, err) }))
	r.Put() // the owner's reference: the count is now 0, but the Ref is live
	r.Put()
	assert.Zero(t, released.Load(), "no release before Kill")
	assert.Empty(t, errs)
	r.Kill()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrUnderflow)
	assert.Zero(t, released.Load(), "a poisoned Ref never releases")
}

// spread, forced while goroutines count, keeps the count exact: operations
// that counted on C stay there, and the new cells' leftovers are absorbed.
func TestLazySpreadWhileCounting(t *testing.T) {
	for round := 0; round < 20; round++ {
		var released atomic.Int32
		r := New(func() { released.Add(1) }, Lazy())
		var wg sync.WaitGroup
		var held atomic.Int64
		stop := make(chan struct{})
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					r.Get()
					held.Add(1)
					runtime.Gosched()
					held.Add(-1)
					assert.False(t, r.Put())
					if i%3 == 0 {
						assert.True(t, r.TryGetLive())
						r.Put()
					}
				}
			}()
		}
		runtime.Gosched()
		r.spread()
		require.NotNil(t, r.cells.Base, "white-box: spread gave the Ref cells")
		runtime.Gosched()
		close(stop)
		wg.Wait()
		require.Equal(t, int64(1), r.Read(), "round %d", round)
		r.Kill()
		require.Equal(t, int32(1), released.Load(), "round %d: Kill released the last reference", round)
	}
}

// Contention makes a Lazy Ref take its cells by itself.
func TestLazySpreadsUnderContention(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs two Ps to contend")
	}
	r := New(nil, Lazy())
	var wg sync.WaitGroup
	deadline := time.Now().Add(10 * time.Second)
	for g := 0; g < 2*runtime.GOMAXPROCS(0); g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				r.Get()
				r.Put()
				if i%64 == 0 && r.cells.Len() != 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NotZero(t, r.cells.Len(), "no failed compare-and-swap in 10 s of contention")
	assert.Equal(t, int64(1), r.Read())
	assert.True(t, r.IsPercpu())
}

// A Lazy Ref that is killed before it spreads gives up per-CPU mode as any
// Ref does without AllowReinit; with AllowReinit it comes back lazy.
func TestLazyKillAndBack(t *testing.T) {
	var errs []error
	r := New(nil, Lazy(), WithMisuseHandler(func(err error) { errs = append(errs, err) }))
	r.Get()
	r.Kill()
	r.Resurrect()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrNoReinit)

	r = New(nil, Lazy(), AllowReinit())
	r.Get()
	r.Kill()
	r.Resurrect()
	assert.True(t, r.IsPercpu())
	assert.Nil(t, r.cells.Base, "white-box: still no cells")
	assert.Equal(t, int64(2), r.Read())
	r.spread()
	r.Put()
	assert.Equal(t, int64(1), r.Read())
	r.Kill()
	assert.True(t, r.IsZero())
}

func TestLazyHasNoEffectWithShards(t *testing.T) {
	r := New(nil, Lazy(), WithShards(4))
	assert.NotNil(t, r.cells.Base, "white-box: padded shards from the start")
	assert.Equal(t, 4, r.cells.Len())
}
