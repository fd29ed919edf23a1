package percpuref

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/internal/fastpath"
	"github.com/percpuref/percpu/internal/slots"
)

// New returns a Ref with a count of 1 (the caller's initial reference), in
// per-CPU mode unless an Option says otherwise. release, which may be nil,
// runs when the count reaches zero after Kill (or, in atomic mode, whenever
// the last reference is put).
func New(release func(), opts ...Option) *Ref {
	r := new(Ref)
	r.Init(release, opts...)
	return r
}

// Init sets up r as New does, for a Ref embedded in its owner's struct. It
// must not run concurrently with any other use of r, and only on a zero Ref,
// one that has been Exited, one made with InitDead and never made live, or
// one whose release has begun (its cells, if it kept them, go back first);
// like Reinit, it may be called from release. Init on a live Ref is
// reported as ErrLive and changes nothing: it would drop the references its
// holders still count on.
//
// A Ref starts without per-CPU counts and takes them at its first
// contention (Lazy, the default), or at Init (Eager). They are 8-byte slots
// in per-P slabs shared with other Refs (package slots' arena), so that a
// Ref that has them costs its 32 bytes, 8 per P, and, if it still has them
// when the next garbage collection cycle completes, the 24 bytes of heap of
// the runtime.AddCleanup that gives them back if it is lost. The slots go
// back to the arena when the Ref is killed (unless AllowReinit keeps them),
// when it is Exited, or, if neither happens, when it becomes unreachable;
// until its cleanup is registered the arena keeps the Ref reachable, so a
// Ref lost with its slots stays in memory one cycle longer. WithShards
// gives the Ref padded shards of its own, at Init. A Ref that starts in
// atomic mode (InitAtomic, InitDead) takes its slot only when it first goes
// per-CPU (Eager), or at the first contention after that. Until it takes a
// slot a Ref costs its 32 bytes, with no cleanup, as an atomic count does.
func (r *Ref) Init(release func(), opts ...Option) {
	// A Ref that was set up before may have a release still running (Init
	// from release, or after it in another goroutine), which takes the lock
	// when it returns to close its life's Done channel: so the old life ends
	// under the lock (endLifeLocked), and the new one is set up under it.
	var m *sync.Mutex
	var orph *orphans
	if r.cells.State.Load()&stInit != 0 {
		m = r.lock()
		st := r.cells.State.Load() // after the lock: a pending KillAsync's fold may have changed it
		if st&stExited == 0 {
			switch {
			case st&(stReleased|stPoisoned) == stPoisoned: // leaking: holders may remain
				r.unlockReport(m, r.releasedLocked("Init", st))
				return
			case st&stReleased == 0:
				r.unlockReport(m, &MisuseError{Op: "Init", Count: r.countLocked(), Err: ErrLive})
				return
			}
			if r.cells.Flags&optFreed == 0 {
				r.freeCells()
			}
		}
		orph = r.endLifeLocked()
	}
	var c config
	for i := range opts {
		c.apply(&opts[i])
	}
	var flags uint8
	if c.allowReinit || c.atomic || c.dead {
		flags |= optAllowReinit
	}
	if c.atomic {
		flags |= optSticky
	}
	if !c.eager && !c.padded {
		flags |= optLazy
	}
	if c.dead {
		// Dead from the start: no release is owed, so stReleased is set as
		// if one had run; Reinit keeps the Done channel for the first life.
		flags |= optFreshDead
	}
	r.cells.Flags = flags
	r.setHook(release, c.onMisuse, orph)
	if r.cells.Base != nil { // a used Ref gave its cells back above
		r.cells.SetBase(nil)
	}
	switch {
	case c.padded:
		base, last, shift := slots.NewSet(c.shards()).Layout()
		r.cells.Last, r.cells.Shift = last, shift
		r.cells.SetBase(base)
	case c.eager && !c.atomic && !c.dead:
		r.takeSlot(&r.cells) // not yet shared: a plain store of Base will do
	}
	// A Ref that starts atomic (InitAtomic, InitDead) has no slot until it
	// first goes per-CPU (cellsLocked): until then it is an atomic count.
	var count int64
	var st uint32
	switch {
	case c.dead:
		count, st = 0, stInit|stAtomic|stDying|stReleased
	case c.atomic:
		count, st = 1, stInit|stAtomic
	default:
		count, st = bias+1-settle(&r.cells), stPercpu
	}
	if m == nil {
		// Never set up: by Init's contract no other goroutine uses r yet, and
		// one that gets r later gets it through a step that synchronises
		// (a channel, a lock, an atomic store), so plain stores do. They
		// spare New two atomic exchanges, a third of an atomic Ref's life.
		*(*int64)(unsafe.Pointer(&r.count)) = count
		*(*uint32)(unsafe.Pointer(&r.cells.State)) = st
		return
	}
	r.count.Store(count)
	r.cells.State.Store(st)
	m.Unlock()
}

// takeSlot takes a slot of the arena for r and describes it in c, which
// must not be published yet: slot j of each P's slab, whose neighbours
// belong to other Refs but are written, in the fast path, only by the
// slab's P. If r is lost without Kill or Exit, the slot goes back when the
// garbage collector finds r unreachable (watchRef): no update can be
// running on an unreachable Ref, since every update holds a pointer to it.
// The arena registers that cleanup only if r still has the slot when the
// next garbage collection cycle completes, which spares a Ref killed before
// then its cost (see "Deferred watches" in package slots).
func (r *Ref) takeSlot(c *cells.Cells) {
	c.Base, c.Last, c.Shift = slots.TakeOwnedSlot(unsafe.Pointer(r), watchRef)
}

// watchRef is the slots.Watch of a Ref: a cleanup that gives the Ref's slot
// back once the Ref is unreachable.
func watchRef(owner unsafe.Pointer, base *atomic.Int64) {
	runtime.AddCleanup((*Ref)(owner), slots.DropSlot, base)
}

// cellsLocked gives an atomic Ref that is about to go per-CPU, with its lock
// held, the cells it was made without (InitAtomic, InitDead): a slot, unless
// it is Lazy (it then goes per-CPU without cells, and spread takes them at
// the first contention), or its cells were given back for good. The Ref is
// in atomic mode, so no update counts on the slot: toPercpuLocked settles
// its leftovers before the Ref leaves atomic mode, as it does for cells
// that AllowReinit kept. Its Base was nil since Init, so no update of an
// older slot can still be running (the rule of cells.Cells).
func (r *Ref) cellsLocked() {
	if r.cells.Base != nil || r.cells.Flags&(optLazy|optFreed) != 0 {
		return
	}
	var fresh cells.Cells
	r.takeSlot(&fresh)
	r.cells.Last, r.cells.Shift = fresh.Last, fresh.Shift
	r.cells.SetBase(fresh.Base)
}

// freeCells gives the cells back, with the Ref's lock held, once the Ref is
// in atomic mode for good (Kill without AllowReinit, Exit). It sets Base to
// nil, which both updates refuse, and retires the slot. An update that read
// the old Base before that may still be running, so the arena frees a
// retired slot only after a grace period (slots.RetireSlot; internal/slots
// argues it). The exclusive protocol would not even need the grace period,
// as a stale update there only stores back what it loaded; the fetchadd
// protocol does, as its adds are permanent. The slot's next owner finds the
// counts this one left, and settles them.
func (r *Ref) freeCells() {
	r.cells.Flags |= optFreed
	if b := r.cells.Base; b != nil {
		r.cells.SetBase(nil)
		slots.RetireSlot(b) // padded shards (not a slot) are left to the GC
	}
}

// settle prepares cells c for per-CPU counting, while nothing counts on
// them (their State is not Live), and returns the counts they hold, which
// the caller subtracts from C: the leftovers of a slot's last owner (Init,
// spread, cellsLocked) or of this Ref's last per-CPU life (toPercpuLocked).
// In the exclusive protocol the cells keep what they hold: a refused update
// through stale cells (of this Ref or of the slot's last owner) stores back
// the value it loaded, so a store of 0 from another CPU could be undone.
// The sum keeps C in its per-CPU range, since the update never leaves a cell
// outside ±cells.Limit (liveLimit): |sum| <= slots.MaxCells · cells.Limit =
// 2^58. In the fetchadd protocol every update is an atomic add that the
// switch's dead cells, or a grace period, keep away, and the cells are
// swapped to 0.
func settle(c *cells.Cells) (sum int64) {
	for i := 0; i < c.Len(); i++ {
		if fastpath.Exclusive() {
			sum += cells.Stable(c.Cell(i))
		} else {
			c.Cell(i).Swap(0)
		}
	}
	return sum
}
