package percpuref

// Done and the lives of a Ref: each life's Done waiters wake exactly when
// that life's release returns, never earlier and never never, whenever Done
// is called (before release, during it, after it) and however lives overlap
// (Reinit or Init from inside release, or from another goroutine while
// release runs, and the new life released while the old release still
// runs). And a release that nobody waits for allocates nothing. The
// argument is at runRelease.

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatedRelease is a release that, in life i (counted from 0 by its calls),
// reports that it has begun, runs inside(i) if set, then blocks until
// open(i), and marks life i returned as its last step.
type gatedRelease struct {
	t        *testing.T
	entered  chan int
	gates    [8]chan struct{}
	returned [8]atomic.Bool
	calls    atomic.Int32
	inside   func(i int)
}

func newGatedRelease(t *testing.T) *gatedRelease {
	g := &gatedRelease{t: t, entered: make(chan int, 8)}
	for i := range g.gates {
		g.gates[i] = make(chan struct{})
	}
	return g
}

func (g *gatedRelease) fn() func() {
	return func() {
		i := int(g.calls.Add(1)) - 1
		g.entered <- i
		if g.inside != nil {
			g.inside(i)
		}
		<-g.gates[i]
		g.returned[i].Store(true)
	}
}

func (g *gatedRelease) open(i int) { close(g.gates[i]) }

// waitEntered waits for life i's release to begin.
func (g *gatedRelease) waitEntered(i int) {
	g.t.Helper()
	select {
	case got := <-g.entered:
		require.Equal(g.t, i, got, "releases begin in the order of the lives")
	case <-time.After(10 * time.Second):
		g.t.Fatalf("life %d's release never began", i)
	}
}

// wake waits for ch, which must close, and checks that it closes only once
// life i's release has returned.
func (g *gatedRelease) wake(ch <-chan struct{}, i int) {
	g.t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		g.t.Fatalf("life %d's Done never closed", i)
	}
	require.True(g.t, g.returned[i].Load(), "life %d's Done closed before its release returned", i)
}

func TestDoneNobodyWaitsAllocatesNothing(t *testing.T) {
	if debugBuild {
		t.Skip("the percpurefdebug records allocate")
	}
	var n int
	release := func() { n++ }
	for _, c := range []struct {
		name string
		opts []Option
		end  func(r *Ref)
	}{
		{"Lazy+Kill", []Option{Lazy(), AllowReinit()}, (*Ref).Kill},
		{"Kill", []Option{AllowReinit()}, (*Ref).Kill},
		{"InitAtomic+Put", []Option{InitAtomic()}, func(r *Ref) { r.Put() }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := New(release, c.opts...)
			c.end(r)
			before := n
			allocs := testing.AllocsPerRun(100, func() {
				r.Reinit()
				c.end(r)
			})
			require.Equal(t, float64(0), allocs, "a life and its release")
			require.Equal(t, before+101, n)
			require.True(t, semClosed(r.Done()), "Done after release returned")
			require.Equal(t, float64(0), testing.AllocsPerRun(10, func() { r.Done() }), "Done after release returned")
		})
	}
}

func TestDoneBeforeDuringAfterRelease(t *testing.T) {
	for _, when := range []string{"before", "during", "inside", "after"} {
		t.Run(when, func(t *testing.T) {
			g := newGatedRelease(t)
			var r *Ref
			inside := make(chan (<-chan struct{}), 1)
			if when == "inside" {
				g.inside = func(int) { inside <- r.Done() }
			}
			r = New(g.fn(), InitAtomic())
			var ch <-chan struct{}
			if when == "before" {
				ch = r.Done()
			}
			put := make(chan bool)
			go func() { put <- r.Put() }()
			g.waitEntered(0)
			switch when {
			case "during":
				ch = r.Done()
			case "inside":
				ch = <-inside
			}
			if ch != nil {
				require.False(t, semClosed(ch), "closed while release runs")
				require.Equal(t, ch, r.Done(), "one channel per life")
			}
			g.open(0)
			require.True(t, <-put)
			if when == "after" {
				ch = r.Done()
			}
			g.wake(ch, 0)
			require.Equal(t, ch, r.Done(), "the same channel for the rest of the life")
		})
	}
}

// TestDoneOverlappingLives releases three lives of one Ref whose releases
// all run at once (each life begins with a Reinit while the last one's
// release runs, from another goroutine or from inside that release), and
// lets the releases return in every order. Done is called before, during
// or never in each life.
func TestDoneOverlappingLives(t *testing.T) {
	perms := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, from := range []string{"outside", "inside"} {
		for _, perm := range perms {
			for calls := 0; calls < 27; calls++ { // when each life calls Done: 0 never, 1 before, 2 during
				when := [3]int{calls % 3, calls / 3 % 3, calls / 9}
				t.Run(fmt.Sprintf("%s/%v/%v", from, perm, when), func(t *testing.T) {
					testOverlappingLives(t, from == "inside", perm, when)
				})
			}
		}
	}
}

func testOverlappingLives(t *testing.T, inside bool, perm [3]int, when [3]int) {
	g := newGatedRelease(t)
	var r *Ref
	during := make(chan (<-chan struct{}), 1)
	if inside {
		// Done during release i is called here, before the Reinit that ends
		// life i: after it, Done is the next life's.
		g.inside = func(i int) {
			if i < 3 && when[i] == 2 {
				during <- r.Done()
			}
			if i < 2 {
				r.Reinit()
			}
		}
	}
	r = New(g.fn(), InitAtomic())
	var chans [3]<-chan struct{}
	puts := make([]chan bool, 3)
	for i := 0; i < 3; i++ {
		if when[i] == 1 {
			chans[i] = r.Done()
		}
		puts[i] = make(chan bool, 1)
		go func() { puts[i] <- r.Put() }()
		g.waitEntered(i)
		if when[i] == 2 {
			if inside {
				chans[i] = <-during
			} else {
				chans[i] = r.Done()
			}
		}
		if i < 2 && !inside {
			r.Reinit()
		}
		for i < 2 && r.IsZero() {
			runtime.Gosched() // inside: the Reinit in release i may not have run yet
		}
	}
	// Every release runs; none has returned.
	for i := 0; i < 3; i++ {
		require.False(t, chans[i] != nil && semClosed(chans[i]), "life %d's Done closed early", i)
	}
	closed := [3]bool{}
	for _, j := range perm {
		g.open(j)
		require.True(t, <-puts[j], "life %d's Put released", j)
		closed[j] = true
		if chans[j] != nil {
			g.wake(chans[j], j)
		}
		for i := 0; i < 3; i++ {
			if !closed[i] && chans[i] != nil {
				require.False(t, semClosed(chans[i]), "life %d's Done closed when life %d's release returned", i, j)
			}
		}
	}
	require.True(t, semClosed(r.Done()), "the last life's release has returned")
	require.True(t, r.IsZero())
	// The Ref lives on: a fourth life, whose Done waits for its own release.
	r.Reinit()
	d := r.Done()
	require.False(t, semClosed(d))
	g.open(3)
	require.True(t, r.Put())
	g.wake(d, 3)
}

// TestDoneReinitThenNewLifeReleasedFirst is the case the issue names: the
// old life's release still runs when the new life is released, and the new
// release returns first.
func TestDoneReinitThenNewLifeReleasedFirst(t *testing.T) {
	g := newGatedRelease(t)
	r := New(g.fn(), AllowReinit())
	old := r.Done()
	killed := make(chan struct{})
	go func() { r.Kill(); close(killed) }()
	g.waitEntered(0)
	r.Reinit()
	nw := r.Done()
	require.NotEqual(t, old, nw)
	put := make(chan bool)
	go func() { r.Kill(); put <- true }()
	g.waitEntered(1)
	g.open(1)
	<-put
	g.wake(nw, 1)
	require.False(t, semClosed(old), "the old life's release still runs")
	g.open(0)
	<-killed
	g.wake(old, 0)
}

// TestDoneInitWhileReleaseRuns: Init starts a life as Reinit does, and
// keeps the lives' numbering, so a release of a life before the Init still
// wakes only its own waiters.
func TestDoneInitWhileReleaseRuns(t *testing.T) {
	for _, withHandler := range []bool{false, true} {
		t.Run(fmt.Sprint("handler=", withHandler), func(t *testing.T) {
			g := newGatedRelease(t)
			var opts []Option
			if withHandler {
				opts = append(opts, WithMisuseHandler(func(error) {}))
			}
			r := New(g.fn(), append(opts, InitAtomic())...)
			old := r.Done()
			put0 := make(chan bool)
			go func() { put0 <- r.Put() }()
			g.waitEntered(0)
			r.Reinit() // orphans life 0: the Ref now numbers its lives
			put1 := make(chan bool)
			go func() { put1 <- r.Put() }()
			g.waitEntered(1)
			mid := r.Done()
			r.Init(g.fn(), opts...) // while releases 0 and 1 run: life 2, per-CPU
			nw := r.Done()
			require.False(t, semClosed(old) || semClosed(mid) || semClosed(nw))
			g.open(1)
			<-put1
			g.wake(mid, 1)
			require.False(t, semClosed(old) || semClosed(nw))
			g.open(2)
			r.Kill() // life 2's release returns at once
			g.wake(nw, 2)
			require.False(t, semClosed(old))
			g.open(0)
			<-put0
			g.wake(old, 0)
		})
	}
}

// TestDoneReturnWindow stops a release between its return and the step that
// records it (testHookReturn): a Done there must get a channel that closes
// at that step, and a Reinit there orphans the life as if release still ran.
func TestDoneReturnWindow(t *testing.T) {
	for _, reinit := range []bool{false, true} {
		t.Run(fmt.Sprint("reinit=", reinit), func(t *testing.T) {
			inWindow, leave := make(chan struct{}), make(chan struct{})
			testHookReturn = func() { close(inWindow); <-leave }
			defer func() { testHookReturn = nil }()
			var returned atomic.Bool
			r := New(func() { returned.Store(true) }, InitAtomic())
			put := make(chan bool)
			go func() { put <- r.Put() }()
			<-inWindow
			d := r.Done()
			require.False(t, semClosed(d), "closed before the return is recorded")
			var nw <-chan struct{}
			if reinit {
				r.Reinit()
				nw = r.Done()
				require.NotEqual(t, d, nw)
			}
			testHookReturn = nil
			close(leave)
			require.True(t, <-put)
			require.True(t, semClosed(d))
			if reinit {
				require.False(t, semClosed(nw), "the new life's Done")
				require.True(t, r.Put())
				require.True(t, semClosed(nw))
			}
		})
	}
}

// TestDonePanickingRelease: a release that panics never returns, so its
// life's Done stays open; Reinit then starts a life that releases and
// wakes its own waiters.
func TestDonePanickingRelease(t *testing.T) {
	var lives atomic.Int32
	r := New(func() {
		if lives.Add(1) == 1 {
			panic("release")
		}
	}, InitAtomic())
	old := r.Done()
	func() {
		defer func() { require.Equal(t, "release", recover()) }()
		r.Put()
	}()
	require.False(t, semClosed(old))
	require.False(t, semClosed(r.Done()), "the panicked life's release never returned")
	r.Reinit()
	nw := r.Done()
	require.True(t, r.Put())
	require.True(t, semClosed(nw))
	require.False(t, semClosed(old))
}

// TestDoneStress races Done callers against releases of random length and
// Reinits, with the lives known to the test (only it calls Reinit): every
// channel that Done returns in life k must close, and only once release k
// has returned.
func TestDoneStress(t *testing.T) {
	lives := 2000
	if testing.Short() {
		lives = 300
	}
	returned := make([]atomic.Bool, lives+1)
	var life atomic.Int32 // the life whose release runs next
	entered := make(chan struct{}, 1)
	r := New(func() {
		k := life.Add(1) - 1
		entered <- struct{}{}
		if rand.IntN(4) == 0 {
			time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
		} else if rand.IntN(2) == 0 {
			runtime.Gosched()
		}
		returned[k].Store(true)
	}, InitAtomic())
	var waiters sync.WaitGroup
	var early atomic.Int32
	wait := func(ch <-chan struct{}, k int) {
		waiters.Add(1)
		go func() {
			defer waiters.Done()
			<-ch
			if !returned[k].Load() {
				early.Add(1)
			}
		}()
	}
	var puts sync.WaitGroup
	for k := 0; k < lives; k++ {
		if rand.IntN(2) == 0 {
			wait(r.Done(), k)
		}
		puts.Add(1)
		go func() { defer puts.Done(); r.Put() }()
		for range rand.IntN(3) {
			runtime.Gosched()
			wait(r.Done(), k)
		}
		<-entered // release k has begun: it counted its life before Reinit
		if rand.IntN(2) == 0 {
			wait(r.Done(), k)
		}
		r.Reinit()
	}
	puts.Wait()
	finished := make(chan struct{})
	go func() { waiters.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(30 * time.Second):
		t.Fatal("a Done channel never closed")
	}
	require.Zero(t, early.Load(), "Done channels closed before their life's release returned")
	require.False(t, semClosed(r.Done()), "the last life is live")
}

// TestDoneOrphanedReturnLeavesNextLife: a release whose life was orphaned
// returns while the next life's release runs. That return must not record
// the next life's release as returned: its Done, asked for only then (so
// that nothing but the claim could have marked the next life's return for
// the lock), stays open until the next release returns.
func TestDoneOrphanedReturnLeavesNextLife(t *testing.T) {
	var lives atomic.Int32
	entered := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	leave := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
	r := New(func() {
		l := lives.Add(1) - 1
		close(entered[l])
		<-leave[l]
	}, InitAtomic())
	put := make(chan bool)
	go func() { put <- r.Put() }()
	<-entered[0]
	r.Reinit() // life 0's release still runs: orphaned
	go func() { put <- r.Put() }()
	<-entered[1]
	close(leave[0])
	require.True(t, <-put, "life 0's Put released")
	d := r.Done()
	require.False(t, semClosed(d), "life 1's Done closed while its release runs")
	close(leave[1])
	require.True(t, <-put, "life 1's Put released")
	require.True(t, semClosed(d))
}

// TestDoneSeesTheFastReturnBetweenItsSteps: Done finds the release
// running, and the release then returns by the fast path (without the
// lock, which Done holds) before Done marks the return for the lock
// (testHookDone). Done must see that in its Or and hand out the shared
// closed channel, and the stSlowReturn it leaves behind must go with the
// life: after Reinit the Ref is back in plain per-CPU mode.
func TestDoneSeesTheFastReturnBetweenItsSteps(t *testing.T) {
	entered, leave := make(chan struct{}), make(chan struct{})
	r := New(func() { close(entered); <-leave }, AllowReinit())
	killed := make(chan struct{})
	go func() { r.Kill(); close(killed) }()
	<-entered
	testHookDone = func() {
		close(leave)
		<-killed // the release returned and recorded it without the lock
	}
	defer func() { testHookDone = nil }()
	d := r.Done()
	testHookDone = nil
	require.True(t, semClosed(d), "Done after the release returned")
	require.Equal(t, uint32(stSlowReturn), r.cells.State.Load()&(stRunning|stSlowReturn))
	r.Reinit()
	require.Equal(t, uint32(stPercpu), r.cells.State.Load(), "the new life's state")
	require.False(t, semClosed(r.Done()), "the new life's Done")
}
