package slots

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Tests of the deferred watches (watch.go): an owner that retires its slot
// before the pass never has a cleanup registered and owes no pending
// retirement; one that does not is watched by the pass, and the cleanup it
// then owes is counted exactly once.

// watchLog is a Watch that registers nothing and remembers what it was
// asked to register, so that a test can stand in for the cleanups.
type watchLog struct {
	mu    sync.Mutex
	calls map[unsafe.Pointer]*atomic.Int64
	n     int
}

func newWatchLog() *watchLog { return &watchLog{calls: map[unsafe.Pointer]*atomic.Int64{}} }

func (w *watchLog) watch(owner unsafe.Pointer, base *atomic.Int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls[owner] = base
	w.n++
}

func (w *watchLog) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *watchLog) watched(owner unsafe.Pointer) (*atomic.Int64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b, ok := w.calls[owner]
	return b, ok
}

// startWatchTest waits for the arena to settle, empties the record, and
// returns a new log of watches.
func startWatchTest(t *testing.T) *watchLog {
	t.Helper()
	drainGrace(t)
	WatchPending()
	return newWatchLog()
}

// newBareOwner is an owner for a slot: any heap object will do.
func newBareOwner() unsafe.Pointer { return unsafe.Pointer(new([2]int64)) }

// checkRecord checks that the record and the chunks' indexes into it agree:
// each entry's slot points back at it, and no other slot points anywhere.
func checkRecord(t *testing.T) {
	t.Helper()
	arena.mu.Lock()
	defer arena.mu.Unlock()
	for i, u := range arena.record {
		require.NotNil(t, u.owner, "record[%d] has no owner", i)
		require.Same(t, chunkOf(u.base), u.c, "record[%d]'s chunk", i)
		require.Equal(t, int32(i+1), u.c.unwatched[u.c.index(u.base)], "record[%d]'s slot does not point at it", i)
	}
	marked := 0
	for _, c := range arena.chunks {
		for _, k := range c.unwatched {
			if k != 0 {
				marked++
			}
		}
	}
	require.Equal(t, len(arena.record), marked, "slots marked as recorded")
}

func TestWatchRetiredBeforeThePassIsNeverWatched(t *testing.T) {
	w := startWatchTest(t)
	noAutoGC(t)
	before := Stats()
	owner := newBareOwner()
	base, _, _ := TakeOwnedSlot(owner, w.watch)
	assert.Equal(t, before.Unwatched+1, Stats().Unwatched, "the owner is on the record")
	checkRecord(t)
	require.True(t, RetireSlot(base))
	assert.Equal(t, before.Unwatched, Stats().Unwatched, "struck off")
	assert.Zero(t, pendingOf(base), "no cleanup will come, so none is pending")
	checkRecord(t)
	WatchPending()
	assert.Zero(t, w.count(), "an owner struck off is never watched")
	gcUntil(t, "the retired slot became free", func() bool { return freeCount(base) == 1 })
	drainGrace(t)
	checkArena(t)
	runtime.KeepAlive(owner)
}

func TestWatchThePassWatchesTheOwnersThatKeepTheirSlots(t *testing.T) {
	w := startWatchTest(t)
	noAutoGC(t)
	owners := []unsafe.Pointer{newBareOwner(), newBareOwner(), newBareOwner(), newBareOwner()}
	bases := make([]*atomic.Int64, len(owners))
	for i, o := range owners {
		bases[i], _, _ = TakeOwnedSlot(o, w.watch)
	}
	// Strike off the first and the third: each moves the last entry into
	// its place.
	require.True(t, RetireSlot(bases[0]))
	checkRecord(t)
	require.True(t, RetireSlot(bases[2]))
	checkRecord(t)
	WatchPending()
	checkRecord(t)
	assert.Zero(t, Stats().Unwatched)
	assert.Equal(t, 2, w.count(), "the pass watches the two owners that kept their slots")
	for i, o := range owners {
		b, ok := w.watched(o)
		if i == 0 || i == 2 {
			assert.False(t, ok, "owner %d retired before the pass", i)
			continue
		}
		require.True(t, ok, "owner %d kept its slot", i)
		assert.Same(t, bases[i], b, "owner %d is watched with its own slot", i)
	}

	// Owner 1 retires after the pass: its cleanup is owed, and takes the
	// pending retirement off when it runs, without freeing the slot twice.
	require.True(t, RetireSlot(bases[1]))
	assert.Equal(t, 1, pendingOf(bases[1]), "a watched owner's retirement waits for its cleanup")
	DropSlot(bases[1])
	assert.Zero(t, pendingOf(bases[1]))
	// Owner 3 is lost: its cleanup frees the slot at once.
	DropSlot(bases[3])
	assert.Equal(t, 1, freeCount(bases[3]), "a lost watched owner's slot is free at once")
	gcUntil(t, "the retired slots became free", func() bool {
		return freeCount(bases[0]) == 1 && freeCount(bases[1]) == 1 && freeCount(bases[2]) == 1
	})
	drainGrace(t)
	checkArena(t)
	runtime.KeepAlive(owners)
}

// A garbage collection runs the pass, and a lost owner's slot then comes
// back through its real cleanup.
func TestWatchLostOwnerGivesItsSlotBack(t *testing.T) {
	drainGrace(t)
	before := Stats()
	var watched atomic.Int32
	base, _, _ := TakeOwnedSlot(newBareOwner(), func(owner unsafe.Pointer, base *atomic.Int64) {
		watched.Add(1)
		runtime.AddCleanup((*[2]int64)(owner), DropSlot, base)
	})
	gcUntil(t, "the lost owner's slot came back", func() bool { return freeCount(base) == 1 })
	assert.Equal(t, int32(1), watched.Load(), "the pass watched the owner once")
	assert.Equal(t, before.Live, Stats().Live)
	assert.Zero(t, pendingOf(base))
	drainGrace(t)
	checkArena(t)
}

// Random takes, retirements, passes and cleanups against a plain model of
// who owes what, with the record checked after every step.
func TestWatchRandomAgainstModel(t *testing.T) {
	w := startWatchTest(t)
	noAutoGC(t)
	pending := totalPending() // cleanups of earlier tests' owners held back, if any
	rng := rand.New(rand.NewPCG(1, 2))
	type own struct {
		owner   unsafe.Pointer
		base    *atomic.Int64
		watched bool // the pass watched it: a cleanup is owed
	}
	var live []*own
	var owed []*own // watched and retired: their cleanups, not run yet
	for step := 0; step < 3000; step++ {
		switch k := rng.IntN(10); {
		case k < 4 || len(live) == 0:
			o := &own{owner: newBareOwner()}
			o.base, _, _ = TakeOwnedSlot(o.owner, w.watch)
			live = append(live, o)
		case k < 7:
			i := rng.IntN(len(live))
			o := live[i]
			live = append(live[:i], live[i+1:]...)
			require.True(t, RetireSlot(o.base))
			want := 0
			if o.watched {
				want = 1
				owed = append(owed, o)
			}
			require.Equal(t, want, pendingOf(o.base), "step %d: pending after retiring a slot (watched %v)", step, o.watched)
		case k < 8:
			n := w.count()
			WatchPending()
			fresh := 0
			for _, o := range live {
				if !o.watched {
					b, ok := w.watched(o.owner)
					require.True(t, ok, "step %d: a recorded owner was not watched", step)
					require.Same(t, o.base, b)
					o.watched = true
					fresh++
				}
			}
			require.Equal(t, n+fresh, w.count(), "step %d: the pass watched only the recorded owners", step)
		default:
			if len(owed) > 0 { // a retired owner's cleanup runs
				o := owed[0]
				owed = owed[1:]
				DropSlot(o.base)
			}
		}
		checkRecord(t)
	}
	WatchPending()
	for _, o := range live {
		require.True(t, RetireSlot(o.base))
		DropSlot(o.base)
	}
	for _, o := range owed {
		DropSlot(o.base)
	}
	assert.Equal(t, pending, totalPending(), "every owed cleanup took its pending retirement off")
	drainGrace(t)
	checkArena(t)
}

// Takes and retirements race with passes: every owner the pass watched and
// that retired owes exactly one pending retirement, which its cleanup takes
// off, and nobody else's.
func TestWatchRacingPasses(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint("round=", round), testWatchRacingPasses)
	}
}

func testWatchRacingPasses(t *testing.T) {
	w := startWatchTest(t)
	pending := totalPending() // cleanups of earlier tests' owners held back, if any
	const goroutines, each = 4, 4000
	var wg sync.WaitGroup
	bases := make([][]*atomic.Int64, goroutines)
	owners := make([][]unsafe.Pointer, goroutines)
	stop := make(chan struct{})
	var passer sync.WaitGroup
	passer.Add(1)
	go func() {
		defer passer.Done()
		for {
			select {
			case <-stop:
				return
			default:
				WatchPending()
				runtime.Gosched()
			}
		}
	}()
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				o := newBareOwner()
				b, _, _ := TakeOwnedSlot(o, w.watch)
				if i%3 == 0 {
					runtime.Gosched()
				}
				RetireSlot(b)
				bases[g] = append(bases[g], b)
				owners[g] = append(owners[g], o)
			}
		}()
	}
	wg.Wait()
	close(stop)
	passer.Wait()
	WatchPending() // waits for a sentinel's pass under way
	checkRecord(t)
	assert.Zero(t, Stats().Unwatched, "every owner retired its slot")
	// The cleanups of the watched owners run now.
	watched := 0
	for g := range owners {
		for i, o := range owners[g] {
			if b, ok := w.watched(o); ok {
				require.Same(t, bases[g][i], b)
				DropSlot(b)
				watched++
			}
		}
	}
	t.Logf("%d of %d owners were watched before they retired", watched, goroutines*each)
	assert.Equal(t, pending, totalPending(), "the pending retirements are exactly the watched owners'")
	drainGrace(t)
	checkArena(t)
}

// passes returns how many passes have run.
func passes() int {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	return arena.passes
}

// No pass runs until a garbage collection cycle has completed, and then
// one pass watches every owner recorded since the last.
func TestWatchGCRunsOnePassForABurst(t *testing.T) {
	w := startWatchTest(t)
	noAutoGC(t)
	p0 := passes()
	var bases []*atomic.Int64
	var owners []unsafe.Pointer
	for range 10 {
		o := newBareOwner()
		b, _, _ := TakeOwnedSlot(o, w.watch)
		bases = append(bases, b)
		owners = append(owners, o)
	}
	for range 10 {
		runtime.Gosched()
	}
	assert.Equal(t, p0, passes(), "a pass ran without a garbage collection")
	assert.Equal(t, 10, Stats().Unwatched)
	gcUntil(t, "the sentinel's pass", func() bool { return passes() > p0 })
	WatchPending() // waits for the sentinel's pass to finish its registrations
	assert.Equal(t, 10, w.count(), "the pass watched the whole burst")
	assert.Equal(t, p0+2, passes(), "one pass for the burst, and ours, which found nothing")
	assert.Zero(t, Stats().Unwatched)
	giveBack(bases...)
	drainGrace(t)
	checkArena(t)
	runtime.KeepAlive(owners)
}

// If the sentinel's cleanup does not run (go1.26 can hold a cleanup back
// while GOMAXPROCS is lower), TakeOwnedSlot runs the pass itself once it is
// passOverdue cycles late, counted from its first look at the GC cycle
// count, which it takes every overdueCheckEvery takes.
func TestWatchOverduePassRunsAtATake(t *testing.T) {
	w := startWatchTest(t)
	noAutoGC(t)
	var bases []*atomic.Int64
	take := func() {
		b, _, _ := TakeOwnedSlot(newBareOwner(), w.watch)
		bases = append(bases, b)
	}
	armed := func() uint64 {
		arena.mu.Lock()
		defer arena.mu.Unlock()
		return arena.passArmed
	}
	p0 := passes()
	take() // makes the sentinel, which no collection will find
	for range overdueCheckEvery - 1 {
		take()
	}
	assert.Zero(t, armed(), "the count was read before the first look")
	take()
	n := armed()
	require.GreaterOrEqual(t, n, uint64(passOverdue), "the first look reads the count (drainGrace ran collections)")
	assert.Equal(t, p0, passes(), "the first look found the pass overdue with no cycle since")

	arena.mu.Lock()
	arena.passArmed -= passOverdue // as if passOverdue cycles had completed since the first look
	arena.mu.Unlock()
	for range overdueCheckEvery - 1 {
		take()
	}
	assert.Equal(t, p0, passes(), "the overdue pass ran before the take that looks for it")
	assert.Zero(t, w.count())
	take()
	assert.Equal(t, p0+1, passes(), "the take that looks ran the overdue pass")
	assert.Equal(t, 2*overdueCheckEvery+1, w.count(), "the pass watched every owner recorded")
	assert.Zero(t, Stats().Unwatched)
	giveBack(bases...)
	drainGrace(t)
	checkArena(t)
}

// An owner recorded inside a testing/synctest bubble, where a timer would
// belong to the bubble (and a reset from outside it would kill the
// program), is watched by a pass that runs outside it, and so are the
// owners recorded after the bubble has ended.
func TestWatchOwnerRecordedInASynctestBubble(t *testing.T) {
	w := startWatchTest(t)
	var inside *atomic.Int64
	insideOwner := newBareOwner()
	synctest.Test(t, func(t *testing.T) {
		inside, _, _ = TakeOwnedSlot(insideOwner, w.watch) // makes the sentinel in the bubble
		time.Sleep(time.Minute)                            // the bubble's clock
	})
	outsideOwner := newBareOwner()
	outside, _, _ := TakeOwnedSlot(outsideOwner, w.watch)
	gcUntil(t, "both owners watched", func() bool { return w.count() == 2 })
	b, ok := w.watched(insideOwner)
	require.True(t, ok)
	assert.Same(t, inside, b)
	b, ok = w.watched(outsideOwner)
	require.True(t, ok)
	assert.Same(t, outside, b)
	giveBack(inside, outside)
	drainGrace(t)
	checkArena(t)
}
