package percpu_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/percpuref"
	"github.com/stretchr/testify/require"
)

// TestConcurrentKills kills many Refs from several goroutines at once, so
// that their switches to atomic mode share membarriers (quiesce.go), while
// other goroutines take and drop references on the same Refs, yielding
// between steps, and GOMAXPROCS changes underneath (growing it puts
// goroutines on Ps beyond a Ref's cells). Each round checks, for every
// Ref, that Kill left the exact count (the references the users held
// then), and that the users' last Puts released it exactly once, from the
// Put that returned true.
func TestConcurrentKills(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	const (
		refs    = 48 // per round
		killers = 6  // goroutines killing refs/killers Refs each
		users   = 4  // goroutines taking and dropping references on every Ref
		ops     = 12 // Get or Put per user per Ref before its final Puts
	)
	length := 600 * time.Millisecond // of the test; at least minRounds rounds
	if testing.Short() {
		length = 150 * time.Millisecond
	}
	const minRounds = 10

	stop := make(chan struct{})
	var procsDone sync.WaitGroup
	procsDone.Add(1)
	go func() { // GOMAXPROCS changes mid-run
		defer procsDone.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
				runtime.GOMAXPROCS(1 + i%5)
			}
		}
	}()
	defer func() { close(stop); procsDone.Wait() }()

	barriers := percpu.Barriers()
	deadline := time.Now().Add(length)
	round := 0
	for ; round < minRounds || time.Now().Before(deadline); round++ {
		rs := make([]*percpuref.Ref, refs)
		released := make([]atomic.Int32, refs)
		lastPut := make([]atomic.Int32, refs) // Puts that returned true
		for i := range rs {
			rs[i] = percpuref.New(func() { released[i].Add(1) })
			rs[i].GetMany(users) // one reference for each user, taken by the owner
		}
		// held[u][i]: the references user u holds on Ref i (from 1 to 1+ops).
		held := make([][refs]int, users)

		var killed, usersDone sync.WaitGroup
		start := make(chan struct{})
		for k := 0; k < killers; k++ {
			killed.Add(1)
			go func() {
				defer killed.Done()
				<-start
				for i := k; i < refs; i += killers {
					rs[i].Kill()
					runtime.Gosched()
				}
			}()
		}
		for u := 0; u < users; u++ {
			usersDone.Add(1)
			go func() {
				defer usersDone.Done()
				<-start
				h := &held[u]
				for i := range h {
					h[i] = 1
				}
				for n := 0; n < ops; n++ {
					for i, r := range rs {
						if (n+i+u)%3 != 0 || h[i] == 1 {
							r.Get()
							h[i]++
						} else {
							if r.Put() {
								t.Errorf("a Put released Ref %d while user %d held another reference", i, u)
							}
							h[i]--
						}
						if (i+n)%7 == 0 {
							runtime.Gosched()
						}
					}
				}
			}()
		}
		close(start)
		killed.Wait()
		usersDone.Wait()

		// Every Ref is killed: atomic, its count exact, the owner's
		// reference dropped, none released.
		for i, r := range rs {
			var want int64
			for u := range held {
				want += int64(held[u][i])
			}
			require.False(t, r.IsPercpu(), "round %d: Ref %d per-CPU after Kill", round, i)
			require.Equal(t, want, r.Read(), "round %d: Ref %d's count after Kill", round, i)
			require.Zero(t, released[i].Load(), "round %d: Ref %d released with references held", round, i)
		}

		// The users put everything, concurrently; exactly one Put per Ref
		// releases it.
		for u := 0; u < users; u++ {
			usersDone.Add(1)
			go func() {
				defer usersDone.Done()
				for i, r := range rs {
					for ; held[u][i] > 0; held[u][i]-- {
						if r.Put() {
							lastPut[i].Add(1)
						}
					}
					if i%5 == 0 {
						runtime.Gosched()
					}
				}
			}()
		}
		usersDone.Wait()
		for i, r := range rs {
			require.Equal(t, int32(1), released[i].Load(), "round %d: Ref %d released once", round, i)
			require.Equal(t, int32(1), lastPut[i].Load(), "round %d: Ref %d: one Put returned true", round, i)
			require.True(t, r.IsZero(), "round %d: Ref %d at zero", round, i)
		}
	}
	t.Logf("%d Kills (fast path %s): %d membarriers", round*refs, percpu.FastPath(), percpu.Barriers()-barriers)
}
