package slots

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Deferred watches.
//
// An owner lost without retiring its slot gives the slot back through a
// cleanup on the owner, DropSlot (see the top of arena.go). Registering it
// with runtime.AddCleanup costs more than the rest of a short life with a
// slot: the runtime walks the list of cleanups and finalizers of the
// owner's span to insert the record in order, and a span of small owners
// that all took slots holds one per owner. Most owners that take a slot for
// a short while retire it (Kill, Exit) and never need the cleanup, so
// TakeOwnedSlot does not register it at once: it records the owner, and a
// pass (WatchPending) registers the cleanups of the owners still recorded
// once the next garbage collection cycle has completed. An owner that
// retires its slot before that is struck off the record, and no cleanup is
// ever registered for it.
//
// Until the pass the record holds the owner, so it cannot become
// unreachable: an owner dropped without retiring its slot stays in memory
// one garbage collection cycle longer than it would have (as an object with
// a finalizer does), and its slot comes back one cycle later.
//
// The pass is run by the cleanup of a sentinel, an object allocated and
// dropped when the first owner since the last pass is recorded, which the
// runtime runs after the first cycle that finds the sentinel unreachable. A
// timer would be simpler, but a timer that a goroutine inside a
// testing/synctest bubble creates or resets belongs to the bubble: reset
// from outside it, the program dies; left armed when the bubble ends, it
// never fires. Cleanups run outside every bubble. In go1.26 a cleanup can be
// held back for as long as a GOMAXPROCS decrease lasts (arena.go), so
// TakeOwnedSlot also runs the pass itself if the sentinel's is overdue
// (passOverdue).
//
// The accounting of DropSlot stays exact because pending[j] counts the
// retirements by watched owners only, those whose cleanup is registered or
// about to be. All changes of the record are made with arena.mu held:
//
//   - TakeOwnedSlot records the owner of slot j (chunk.unwatched[j] != 0).
//   - RetireSlot of a recorded owner's slot strikes it off and counts no
//     pending retirement: no cleanup will ever come for it.
//   - The pass takes every recorded owner off the record, which makes them
//     watched, and registers their cleanups after letting arena.mu go (a
//     slow runtime call, not to be made under the lock that Kill takes). A
//     RetireSlot in between counts a pending retirement, which the cleanup
//     takes off when it runs. It cannot run before it is registered: the
//     pass holds the owner until then.
//
// So every slot taken with TakeOwnedSlot is at each moment either recorded,
// and given back only by its retirement, or watched, with exactly one
// cleanup to come whose retirement, if any, pending[j] counts: the two
// cases of DropSlot's argument. model/watch.pml checks this with spin, for
// one slot and its successive owners, against mutants that break each rule.

// A Watch registers the cleanup that gives a lost owner's slot back:
// runtime.AddCleanup((*T)(owner), DropSlot, base) for the owner's type T.
type Watch func(owner unsafe.Pointer, base *atomic.Int64)

// recorded is an owner whose cleanup is not registered yet.
type recorded struct {
	owner unsafe.Pointer // holds the owner in memory until the pass
	watch Watch
	base  *atomic.Int64 // its slot
	c     *chunk        // the slot's chunk
}

// passSentinel is the sentinel's type: it holds a pointer, so that it is
// not a tiny allocation, whose cleanup could wait for its neighbours.
type passSentinel struct{ _ *byte }

// passOverdue is how many GC cycles after the sentinel was made its pass is
// overdue: the cycle under way when it was made may keep it (a new object
// survives the cycle it was allocated in), the next finds it unreachable and
// is swept before the one after begins, and its cleanup then runs at once
// unless it is held back. TakeOwnedSlot counts them from its first look at
// the count (passArmed), which comes after the sentinel was made.
const passOverdue = 3

// overdueCheckEvery bounds how often TakeOwnedSlot reads the GC cycle count
// (about 100 ns) to see whether the pass is overdue.
const overdueCheckEvery = 32

// TakeOwnedSlot is TakeSlot for an owner whose slot the arena gives back
// by itself if the owner becomes unreachable without retiring it: the
// arena calls watch for the owner, unless the owner retires its slot
// first, after the next garbage collection cycle (see "Deferred watches"
// above).
func TakeOwnedSlot(owner unsafe.Pointer, watch Watch) (base *atomic.Int64, last uint16, shift uint8) {
	arena.mu.Lock()
	c, base := takeLocked()
	if c.unwatched == nil {
		c.unwatched = make([]int32, c.slots)
	}
	arena.record = append(arena.record, recorded{owner: owner, watch: watch, base: base, c: c})
	c.unwatched[c.index(base)] = int32(len(arena.record))
	overdue := false
	if !arena.passDue {
		arena.passDue = true
		arena.passArmed = 0
		arena.ownedTakes = 0
		runtime.AddCleanup(new(passSentinel), runPass, struct{}{})
	} else if arena.ownedTakes++; arena.ownedTakes%overdueCheckEvery == 0 {
		// The count is read at the first look, not when the sentinel was
		// made: a later count only makes the pass overdue later, and a
		// process whose owners rarely meet a due pass never pays for the
		// first read of runtime/metrics (about 14 KiB of its tables).
		n := gcCycles()
		if arena.passArmed == 0 {
			arena.passArmed = n
		}
		overdue = n >= arena.passArmed+passOverdue
	}
	arena.mu.Unlock()
	if overdue {
		WatchPending()
	}
	return base, uint16(c.procs - 1), c.shift
}

// runPass is the sentinel's cleanup.
func runPass(struct{}) { WatchPending() }

// strikeLocked strikes the owner of slot j of c off the record, if it is
// there, and reports whether it was; arena.mu must be held. The last entry
// moves into its place, so that the record holds the recorded owners and
// nothing else.
func strikeLocked(c *chunk, j int) bool {
	if c.unwatched == nil || c.unwatched[j] == 0 {
		return false
	}
	i := int(c.unwatched[j]) - 1
	c.unwatched[j] = 0
	last := len(arena.record) - 1
	if i != last {
		moved := arena.record[last]
		arena.record[i] = moved
		moved.c.unwatched[moved.c.index(moved.base)] = int32(i + 1)
	}
	arena.record[last] = recorded{}
	arena.record = arena.record[:last]
	return true
}

// WatchPending registers the cleanups of the owners on the record, and
// empties it; it returns once they are registered, and once any pass
// already under way has registered its own. The sentinel's cleanup runs
// it after a garbage collection (see "Deferred watches" above); call it to
// register them at once (tests, and a measurement of the memory that live
// owners cost).
func WatchPending() {
	arena.passMu.Lock()
	defer arena.passMu.Unlock()
	arena.mu.Lock()
	batch := arena.record
	arena.record = nil
	arena.passDue = false
	arena.passes++
	for _, u := range batch {
		u.c.unwatched[u.c.index(u.base)] = 0
	}
	arena.mu.Unlock()
	for i := range batch {
		batch[i].watch(batch[i].owner, batch[i].base)
		batch[i] = recorded{} // the owner's reachability is its own again
	}
}
