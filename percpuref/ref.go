// Package percpuref provides Ref, a reference count that stays cheap when
// many goroutines on many cores take and drop references at once, and that
// becomes an exact, kref-precise count when its owner kills it.
//
// It is Linux's percpu_ref with Go names. A live Ref is in per-CPU mode: Get
// and Put touch only a counter on the caller's P (its own cache line), and
// Put never releases, because the owner still holds the initial reference.
// A Ref takes those counters when it needs them: until two goroutines first
// collide on it, it counts on one word as an atomic.Int64 would, and costs
// what one does to create and kill (Lazy, the default; Eager takes the
// counters at New).
// When the owner is done it calls Kill: the Ref folds its per-CPU counters
// into one atomic count, drops the initial reference, and from then on
// behaves exactly as a kref: the Put that takes the count to zero runs
// release, once, in that goroutine.
//
// The typical life of a shared object:
//
//	obj.ref.Init(obj.free)      // count 1: the owner's reference
//	obj.ref.Get()               // before handing obj to another goroutine
//	go func() { defer obj.ref.Put(); use(obj) }()
//	...
//	obj.ref.Kill()              // end of life: drop the owner's reference
//	                            // obj.free runs when the last Put returns
//
// Misuse (more Puts than Gets, a Get after release, a second Kill, and so
// on) is reported as a *MisuseError wrapping one of the Err* sentinels: by
// default with a panic, or to a handler given with WithMisuseHandler or
// SetMisuseHandler. Release runs at most once per life of a Ref, whatever
// the misuse, and never before the count that the Ref can see reaches zero;
// but no count can tell an extra Put from the Put of a reference still
// held, so a holder whose reference another goroutine dropped twice may
// outlive the release (docs/semantics.md lists every misuse).
package percpuref

// fast_amd64.s includes a copy of the root package's update_amd64.h.
//go:generate cp ../update_amd64.h update_amd64.h

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/internal/fastpath"
	"github.com/percpuref/percpu/internal/slots"
)

// A Ref is a reference count with per-CPU fast paths. Create one with New,
// or embed it and call Init. A Ref must not be copied after Init.
//
// Get, Put and the TryGet family may be called from any number of
// goroutines at any time. Kill, the switches, Resurrect, Reinit and Exit are
// serialised inside the Ref and may race with each other and with the fast
// path. No internal lock is held while release or a confirm callback runs,
// so both may call back into the Ref.
//
// A Ref is 32 bytes, and every Get and Put reads it. A Ref that many cores
// use at once should not share its cache line with data that cores write
// often: the line would then miss on every operation (the root package's
// BenchmarkNeighbour measures a few times the cost). Embed it among its
// owner's read-mostly fields, or pad it; a Ref made by New shares its line
// with whatever the allocator puts beside it.
type Ref struct {
	// cells are the per-CPU counts (Base is nil once they are given back);
	// cells.State is the Ref's state word (st* bits, stPercpu exactly in
	// per-CPU mode) and cells.Flags its options (opt* bits, guarded by the
	// Ref's lock).
	cells cells.Cells
	count atomic.Int64 // the central count; carries bias in per-CPU mode

	// hook is release, or, once the Ref has a misuse handler or a Done
	// channel (optExtra), an *extra that holds release with them: one word
	// for both keeps a Ref at 32 bytes, the size class below 48. Set by
	// Init; after that read and written only with the Ref's lock held.
	hook unsafe.Pointer
}

// extra holds what few Refs use, out of line to keep Ref small: a misuse
// handler of its own, a Done channel, and the lives whose release still ran
// when the next life began. A Ref that has none of these has no extra, and
// neither its life nor its release allocates.
type extra struct {
	release  func()
	onMisuse func(error)   // set by Init
	done     chan struct{} // this life's, made by Done; closed when its release returns
	orph     *orphans      // made at the first life that ends while its release runs
}

// orphans numbers the lives of a Ref that ended (by Reinit or Init) while
// their release still ran, and keeps the Done channels of those lives until
// their releases return and close them. See runRelease.
type orphans struct {
	life uint64   // the current life's number: how many lives were orphaned
	list []orphan // the orphaned lives that had a Done channel
}

type orphan struct {
	life uint64
	done chan struct{}
}

// closedDone is what Done returns once the current life's release has
// returned, if nobody asked for a channel before: one closed channel serves
// every Ref, so that a release nobody waits for allocates nothing.
var closedDone = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// A func value is one pointer word (to its closure, or to a static one for a
// plain function), which hook holds as it is. The index is out of range, and
// the package does not compile, if that ever stops being true.
var _ = [1]int{}[unsafe.Sizeof(func() {})-unsafe.Sizeof(unsafe.Pointer(nil))]

func funcWord(f func()) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&f)) }
func wordFunc(w unsafe.Pointer) func() { return *(*func())(unsafe.Pointer(&w)) }

// setHook sets release and onMisuse, in Init, after Init has set
// cells.Flags: before r is shared, or with the Ref's lock held. orph, if not
// nil, is the numbering of the Ref's lives, kept from the last life so that
// a release still running from an earlier life never takes a later one for
// its own.
func (r *Ref) setHook(release func(), onMisuse func(error), orph *orphans) {
	r.hook = funcWord(release)
	if onMisuse != nil || orph != nil {
		x := r.extraLocked(true)
		x.onMisuse, x.orph = onMisuse, orph
	}
}

// extraLocked returns r's extra, making it if create is true and r has
// none; nil if it has none and create is false. The Ref's lock must be held.
func (r *Ref) extraLocked(create bool) *extra {
	if r.cells.Flags&optExtra != 0 {
		return (*extra)(r.hook)
	}
	if !create {
		return nil
	}
	x := &extra{release: wordFunc(r.hook)}
	r.hook = unsafe.Pointer(x)
	r.cells.Flags |= optExtra
	return x
}

// releaseLocked returns release. The Ref's lock must be held.
func (r *Ref) releaseLocked() func() {
	if x := r.extraLocked(false); x != nil {
		return x.release
	}
	return wordFunc(r.hook)
}

// The Ref's lock serialises its mode changes (Kill, the switches, Resurrect,
// Reinit, Exit), the claim of its release, Read and Done, and guards
// cells.Flags and hook. It is not a field of the Ref: a Ref's lock is the
// stripe of refLocks that its address hashes to, which keeps the Ref at 32
// bytes. This is exact because
//
//   - a Ref's address is fixed while other goroutines can reach it: Go does
//     not move heap objects, and a Ref on a goroutine's stack (which may
//     move) is reachable only from that goroutine; lock returns the mutex it
//     took, so the unlock matches it even if the stack moved in between;
//   - two Refs on one stripe only serialise more than they must, and that
//     cannot deadlock: no path takes a Ref's lock while it holds one (of this
//     Ref or another), runs user code (release, confirm, a misuse handler)
//     with one held, or waits with one held for anything that takes one.
//     The arena's lock (shard), taken inside, never takes a Ref's.
//
// The stripes are as many as make a collision between two Refs' mode
// changes rare, each padded as a shard is (percpu.CacheLinePad).
var refLocks [refLockStripes]struct {
	sync.Mutex
	_ [refLockPad]byte
}

const (
	refLockBits    = 8
	refLockStripes = 1 << refLockBits
	refLockPad     = percpu.CacheLinePad - unsafe.Sizeof(sync.Mutex{})%percpu.CacheLinePad
)

// refLockShift is 64 - refLockBits; a test sets it to 64, which puts every
// Ref on stripe 0, to show that sharing a lock is safe.
var refLockShift atomic.Uint32

func init() { refLockShift.Store(64 - refLockBits) }

// lock takes r's lock and returns it, for the caller to unlock.
func (r *Ref) lock() *sync.Mutex {
	// A nil r must fault here, before the lock is taken: a caller's own
	// dereference would come with the stripe held, and a recovered panic
	// would leave it held for good, hanging every Ref on that stripe.
	r.cells.State.Load()
	// Fibonacci hashing: the top bits of the address times 2^64/φ.
	h := uint64(uintptr(unsafe.Pointer(r))) * 0x9E3779B97F4A7C15 >> refLockShift.Load()
	m := &refLocks[h].Mutex
	m.Lock()
	return m
}

// State bits. The fast path counts on the cells only when state == stPercpu
// (cells.Live).
const (
	stInit      = 1 << iota // set up by New or Init
	stAtomic                // C is authoritative (see protocol.go)
	stDying                 // killed, or made with InitDead
	stExited                // Exit has run
	stReleased              // release has started in this life; Reinit clears it
	stPoisoned              // the count was corrupted by misuse and is pinned
	stSaturated             // stPoisoned by saturation (else by release misuse or underflow)

	stPercpu = stInit
)

// Option bits, in cells.Flags, guarded by the Ref's lock.
const (
	optAllowReinit = 1 << iota // keep the cells after a switch to atomic
	optSticky                  // stay atomic until SwitchToPercpu
	optFreshDead               // made with InitDead and not yet Reinit
	optFreed                   // the cells were given back: no per-CPU mode again
	optExtra                   // hook is an *extra, not release
	optRunning                 // this life's release was claimed and has not returned
	optLazy                    // without cells, go per-CPU as Lazy does, not with a slot
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
// Ref that has them costs its 32 bytes, 8 per P, and the 24 bytes of heap
// that runtime.AddCleanup allocates. The slots go back to the arena when the
// Ref is killed (unless AllowReinit keeps them), when it is Exited, or, if
// neither happens, when it becomes unreachable. WithShards gives the Ref
// padded shards of its own, at Init. A Ref that starts in atomic mode
// (InitAtomic, InitDead) takes its slot only when it first goes per-CPU
// (Eager), or at the first contention after that. Until it takes a slot a
// Ref costs its 32 bytes, with no cleanup, as an atomic count does.
func (r *Ref) Init(release func(), opts ...Option) {
	// A Ref that was set up before may have a release still running (Init
	// from release, or after it in another goroutine), which takes the lock
	// when it returns to close its life's Done channel: so the old life ends
	// under the lock (endLifeLocked), and the new one is set up under it.
	var m *sync.Mutex
	var orph *orphans
	if st := r.cells.State.Load(); st&stInit != 0 {
		m = r.lock()
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
// must not be published yet. If r is lost without Exit, the slot goes back
// when the garbage collector finds r unreachable.
func (r *Ref) takeSlot(c *cells.Cells) {
	c.Base, c.Last, c.Shift = slots.TakeSlot()
	runtime.AddCleanup(r, slots.DropSlot, c.Base)
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

// lazy counts d on C for a Ref in per-CPU mode that has no cells yet
// (Lazy), and takes its cells at the first sign of contention: a
// compare-and-swap that fails. It reports whether it counted d; false sends
// the caller to the central path, which is exact in either mode. Only a C
// that carries the bias is counted on: if a switch to atomic mode has run
// since the caller loaded the state, C no longer does.
func (r *Ref) lazy(d int64) bool {
	if r.cells.Len() != 0 {
		return false // the cells refused for another reason
	}
	v := r.count.Load()
	if uint64(v+d-bias+lazyRange) > 2*lazyRange {
		return false // the central path checks the range and reports
	}
	if r.count.CompareAndSwap(v, v+d) {
		return true
	}
	r.spread()
	return false
}

// lazyRange bounds the logical count that lazy leaves on C: far below
// MaxCount and far above any count a program holds, and within the per-CPU
// range of C (percpuLow is bias - lazyRange), so that lazy never takes C out
// of it unreported.
const lazyRange = 1 << 59

// spread gives a Lazy Ref its cells, if it is still per-CPU and without
// them. The cells' leftovers are settled before they are published, so that
// C - bias + Σ cells stays the count throughout; operations that counted on
// C meanwhile stay there.
func (r *Ref) spread() {
	defer r.lock().Unlock()
	if r.cells.State.Load() != stPercpu || r.cells.Base != nil || r.cells.Flags&optFreed != 0 {
		return
	}
	var fresh cells.Cells // State is not Live: nothing counts on it
	r.takeSlot(&fresh)
	r.count.Add(-settle(&fresh))
	r.cells.Last, r.cells.Shift = fresh.Last, fresh.Shift
	r.cells.SetBase(fresh.Base) // from now on the fast path counts on the cells
}

// freeCells gives the cells back, with the Ref's lock held, once the Ref is
// in atomic mode for good.
func (r *Ref) freeCells() {
	r.cells.Flags |= optFreed
	if b := r.cells.Base; b != nil {
		r.cells.SetBase(nil)
		slots.RetireSlot(b) // padded shards (not a slot) are left to the GC
	}
}

// settle prepares cells c for per-CPU counting, while nothing counts on
// them (their State is not Live), and returns the counts they hold, which
// the caller subtracts from C. In the exclusive protocol the cells keep
// what they hold: a refused update through stale cells (of this Ref or of
// the slot's last owner) stores back the value it loaded, so a store of 0
// could be undone. In the shared protocol every update is an atomic add
// that the switch's dead cells, or a grace period, keep away, and the cells
// are swapped to 0.
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

// The fast path tries to count delta d on the caller's shard and reports
// whether it did; false means the caller must redo the operation on the
// central count. Which of the two protocols of protocol.go runs is fixed for
// the process by fastpath.Exclusive(), and every operation spells the choice out
// as
//
//	st == stPercpu && (fastpath.Exclusive() && r.exclusive(d) ||
//		!fastpath.Exclusive() && r.shared(d))
//
// so that exclusive, the assembly path, inlines into the operation: one call
// in all, straight to the assembly. The state check is the assembly's own
// (and AddLocal's); made first, once, it spares an operation in atomic mode
// the call and lets Get and Put reuse the state they loaded. Get, Put,
// TryGet and TryGetLive go further on amd64: their common paths are assembly
// (fast_amd64.s), reached from the caller with no Go frame between.

// exclusive is the fast path of the exclusive protocol.
func (r *Ref) exclusive(d int64) bool {
	return fastpath.UpdateLocal(&r.cells, d) // nil Base (cells given back): refused
}

// shared is the fast path of the shared protocol.
func (r *Ref) shared(d int64) bool {
	old, ok := fastpath.AddLocal(&r.cells, d)
	return ok && (isLive(old) || r.offRange(old))
}

// offRange handles an add made by shared on a cell whose old value was not
// live. It reports whether the add stands: true if the cell was drifting
// (the cell is then folded into the central count), false if the cell was
// dead, and the caller must redo the operation on the central count.
func (r *Ref) offRange(old int64) bool {
	if old < deadBelow {
		return false
	}
	m := r.lock()
	if r.cells.State.Load() == stPercpu {
		for i := 0; i < r.cells.Len(); i++ {
			if c := r.cells.Cell(i); !isLive(c.Load()) {
				r.count.Add(c.Swap(0))
			}
		}
	}
	m.Unlock()
	return true
}

// Get takes a reference. The caller must already hold one (as in kref_get):
// Get never fails. In atomic mode a Get on a count of zero is reported as
// ErrReleased.
func (r *Ref) Get() {
	debugGet(r, 1)
	getFast(r)
}

// get is Get past the fast path of fast_amd64.s, or all of Get where that
// fast path is not built; tried reports whether the assembly already tried
// the single-writer update. A retry could succeed only if a Lazy Ref's spread
// published its cells in between; skipping it stays exact, as the central
// count takes the operation instead.
func (r *Ref) get(tried bool) {
	st := r.cells.State.Load()
	if st == stPercpu {
		if !tried && fastpath.Exclusive() && r.exclusive(1) || !fastpath.Exclusive() && r.shared(1) || r.lazy(1) {
			return
		}
		st = r.cells.State.Load()
	}
	// getCentral("Get", 1), written out so that the atomic-mode Get has one
	// frame, not two.
	if !usable(st) {
		r.unusable("Get", st, true)
		return
	}
	if v := r.count.Add(1); v <= 1 || v > MaxCount {
		r.getChecked("Get", 1, v)
	}
}

// GetMany takes n references at once; 0 < n <= MaxDelta.
func (r *Ref) GetMany(n int) {
	if !r.validDelta("GetMany", n) {
		return
	}
	debugGet(r, n)
	if r.cells.State.Load() == stPercpu && (fastpath.Exclusive() && r.exclusive(int64(n)) || !fastpath.Exclusive() && r.shared(int64(n)) || r.lazy(int64(n))) {
		return
	}
	r.getCentral("GetMany", int64(n))
}

// Put drops a reference. It returns true iff this call dropped the last
// reference and ran release (synchronously, in this goroutine, before Put
// returns). In per-CPU mode Put never releases: the owner's initial
// reference is still held.
func (r *Ref) Put() bool {
	debugPut(r, 1)
	return putFast(r)
}

// put is Put past the fast path of fast_amd64.s, or all of Put where that
// fast path is not built; tried is as for get.
func (r *Ref) put(tried bool) bool {
	st := r.cells.State.Load()
	if st == stPercpu {
		if !tried && fastpath.Exclusive() && r.exclusive(-1) || !fastpath.Exclusive() && r.shared(-1) || r.lazy(-1) {
			return false
		}
		st = r.cells.State.Load()
	}
	// putCentral("Put", 1), written out as in Get.
	if !usable(st) {
		r.unusable("Put", st, false)
		return false
	}
	if v := r.count.Add(-1); !atomicValid(v) {
		return r.putChecked("Put", 1, v)
	}
	return false
}

// PutMany drops n references at once; 0 < n <= MaxDelta. It reports what
// Put reports.
func (r *Ref) PutMany(n int) bool {
	if !r.validDelta("PutMany", n) {
		return false
	}
	debugPut(r, n)
	if r.cells.State.Load() == stPercpu && (fastpath.Exclusive() && r.exclusive(-int64(n)) || !fastpath.Exclusive() && r.shared(-int64(n)) || r.lazy(-int64(n))) {
		return false
	}
	return r.putCentral("PutMany", int64(n))
}

// PutLocked drops a reference as kref_put_mutex does: if this may be the
// last reference, it takes mu first, so that release runs with mu held and
// no lookup under mu can find the object between the count reaching zero
// and release unlinking it. PutLocked unlocks mu after release returns
// (unlike kref_put_mutex, where release must unlock). mu is not taken when
// other references remain, which is every Put in per-CPU mode.
func (r *Ref) PutLocked(mu sync.Locker) bool {
	debugPut(r, 1)
	if r.cells.State.Load() == stPercpu && (fastpath.Exclusive() && r.exclusive(-1) || !fastpath.Exclusive() && r.shared(-1) || r.lazy(-1)) {
		return false
	}
	return r.putLockedCentral("PutLocked", 1, mu)
}

// GetUnlessZero takes a reference unless the count is zero, as
// kref_get_unless_zero does, and reports whether it did. It is the same as
// TryGet.
func (r *Ref) GetUnlessZero() bool { return r.TryGet() }

// TryGet takes a reference unless the count is zero (percpu_ref_tryget). In
// per-CPU mode it always succeeds. After Kill it succeeds while references
// remain.
func (r *Ref) TryGet() bool {
	ok := tryGetFast(r)
	debugTryGet(r, 1, ok)
	return ok
}

// tryGet is TryGet (live false) or TryGetLive (live true) past the fast
// path of fast_amd64.s, or all of it where that fast path is not built;
// tried is as for get.
func (r *Ref) tryGet(tried, live bool) bool {
	if r.cells.State.Load() == stPercpu && (!tried && fastpath.Exclusive() && r.exclusive(1) || !fastpath.Exclusive() && r.shared(1) || r.lazy(1)) {
		return true
	}
	if live {
		return r.tryGetCentral("TryGetLive", 1, true)
	}
	return r.tryGetCentral("TryGet", 1, false)
}

// TryGetMany takes n references unless the count is zero; 0 < n <= MaxDelta.
func (r *Ref) TryGetMany(n int) bool {
	if !r.validDelta("TryGetMany", n) {
		return false
	}
	ok := r.cells.State.Load() == stPercpu && (fastpath.Exclusive() && r.exclusive(int64(n)) || !fastpath.Exclusive() && r.shared(int64(n)) || r.lazy(int64(n))) || r.tryGetCentral("TryGetMany", int64(n), false)
	debugTryGet(r, n, ok)
	return ok
}

// TryGetLive takes a reference unless the Ref is dying or at zero
// (percpu_ref_tryget_live). Once Kill has returned, every TryGetLive that
// starts afterwards fails, until Resurrect or Reinit.
func (r *Ref) TryGetLive() bool {
	ok := tryGetLiveFast(r)
	debugTryGet(r, 1, ok)
	return ok
}

// usable reports whether state st allows a counting operation on the
// central count: the Ref was set up, has not exited and was not released
// (or made with InitDead). Small enough to inline, and one mask and compare
// as in the assembly; unusable reports.
//
// A released Ref's operations leave the count alone: if each added to it
// and looked at what it found, as the first misuse after release does, a
// second Get that came before the first one's poison landed would find a
// count of 1 and pass unreported. Once stReleased is set (under the lock,
// before release runs), every Get and Put sees it and reports under the
// lock instead. The count can still be seen at 1 only in the window between
// the last Put's add and its claim of the release, by a Get that races
// both (docs/semantics.md, "A released Ref stays released").
func usable(st uint32) bool { return st&(stInit|stExited|stReleased) == stInit }

// unusable reports the misuse of a Get (get) or a Put of op on a Ref in
// state st, which usable refused.
func (r *Ref) unusable(op string, st uint32, get bool) {
	switch {
	case st&(stInit|stExited) != stInit:
		err := ErrUninitialized
		if st&stExited != 0 {
			err = ErrExited
		}
		r.report(op, shownCount(st, r.count.Load()), err)
	default:
		r.useAfterRelease(op, get)
	}
}

// useAfterRelease reports op, a Get (get) or a Put, on a released Ref, and
// poisons the count if no earlier misuse did. It takes the Ref's lock, so
// that of several such operations at once exactly one finds the count
// unpoisoned and names it; the rest report Poisoned.
// model/misuse.pml checks with spin that each is reported exactly once.
func (r *Ref) useAfterRelease(op string, get bool) {
	m := r.lock()
	st := r.cells.State.Load()
	var e *MisuseError
	switch {
	case st&stReleased == 0:
		// Reinit began a new life since the caller loaded the state. This
		// operation is not ordered after that Reinit, so it belongs to the
		// released life: report it, and leave the new life alone.
		e = &MisuseError{Op: op, Err: ErrReleased}
	case st&stPoisoned != 0:
		e = &MisuseError{Op: op, Err: r.poisonCauseLocked(st, get), Poisoned: true}
	default:
		e = &MisuseError{Op: op, Count: r.count.Load(), Err: ErrUnderflow}
		if get {
			e.Err = r.zeroCauseLocked()
		}
		r.poisonLocked()
	}
	m.Unlock()
	r.send(e)
}

func (r *Ref) validDelta(op string, n int) bool {
	if n > 0 && n <= MaxDelta {
		return true
	}
	r.report(op, int64(n), ErrBadDelta)
	return false
}

// getCentral counts a Get of n on the central count. The checks that
// follow the add are out of line, to keep this path short.
func (r *Ref) getCentral(op string, n int64) {
	if st := r.cells.State.Load(); !usable(st) {
		r.unusable(op, st, true)
		return
	}
	if v := r.count.Add(n); v-n <= 0 || v > MaxCount {
		r.getChecked(op, n, v)
	}
}

// getChecked handles a central Get of n whose result v is out of the
// ordinary: the count it found was poisoned by an earlier misuse, or zero
// (use after release); or v is past MaxCount, as C is in per-CPU mode
// (valid), or out of both modes' ranges (saturation, or an underflow in
// per-CPU mode: see "The ranges of C" in protocol.go).
func (r *Ref) getChecked(op string, n, v int64) {
	switch found := v - n; {
	case found < poisonZone:
		r.count.Add(-n) // a poisoned count never moves: undo
		r.reportPoisoned(op, true)
	case found <= 0:
		m := r.lock()
		r.poisonLocked()
		err := r.zeroCauseLocked()
		m.Unlock()
		r.report(op, found, err)
	case !biased(v):
		r.outOfRange(op, true, found, v)
	}
}

// putCentral counts a Put of n on the central count and runs release if it
// took the count to zero.
func (r *Ref) putCentral(op string, n int64) bool {
	if st := r.cells.State.Load(); !usable(st) {
		r.unusable(op, st, false)
		return false
	}
	if v := r.count.Add(-n); !atomicValid(v) {
		return r.putChecked(op, n, v)
	}
	return false
}

// atomicValid reports whether v, the result of a central Put, is a count
// that atomic mode allows after a Put, [1, MaxCount], in one compare.
// Anything else is zero (release), misuse, or C in per-CPU mode, which
// putChecked tells apart.
func atomicValid(v int64) bool { return uint64(v-1) < MaxCount }

// putChecked handles a central Put of n whose result v is not in [1,
// MaxCount]: zero (release); below it, an underflow or a count poisoned by
// an earlier misuse; or above it, C in per-CPU mode (valid, or out of
// range: see "The ranges of C" in protocol.go).
func (r *Ref) putChecked(op string, n, v int64) bool {
	switch {
	case v == 0:
		if testHookZero != nil {
			testHookZero()
		}
		return r.runRelease(op)
	case v+n < poisonZone:
		r.count.Add(n) // a poisoned count never moves: undo
		r.reportPoisoned(op, false)
	case v < 0:
		r.corrupt(op, v+n, ErrUnderflow)
	case !biased(v):
		r.outOfRange(op, false, v+n, v)
	}
	return false
}

// testHookZero, set only by tests, runs between the add that took the
// count to zero and runRelease: the window that a concurrent Reinit must
// respect.
var testHookZero func()

// putLockedCentral is putCentral for PutLocked: as kref_put_mutex, it
// decrements without mu while this cannot be the last reference, and takes
// mu for the decrement that may be, so that release runs with mu held.
func (r *Ref) putLockedCentral(op string, n int64, mu sync.Locker) bool {
	if st := r.cells.State.Load(); !usable(st) {
		r.unusable(op, st, false)
		return false
	}
	for {
		v := r.count.Load()
		if v <= 0 || v > MaxCount && !biased(v) {
			// Released, poisoned or out of range: no release can follow,
			// so mu is not needed to report the misuse.
			return r.putCentral(op, n)
		}
		if v <= n {
			break
		}
		if r.count.CompareAndSwap(v, v-n) {
			return false
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return r.putCentral(op, n)
}

func (r *Ref) tryGetCentral(op string, n int64, live bool) bool {
	st := r.cells.State.Load()
	if st&(stReleased|stExited) == stReleased {
		return false // released (or InitDead): a try that fails, not misuse
	}
	if !usable(st) {
		r.unusable(op, st, true)
		return false
	}
	if live && st&stDying != 0 {
		return false
	}
	for {
		v := r.count.Load()
		if v <= 0 || v > MaxCount && !biased(v) {
			// Zero, or poisoned (released or saturated), or out of range
			// (the operation that took it there reports).
			return false
		}
		if r.count.CompareAndSwap(v, v+n) {
			if v+n > MaxCount && !biased(v+n) {
				r.outOfRange(op, true, v, v+n)
			}
			return true
		}
	}
}

// runRelease runs release for the add of op that took the count to zero,
// at most once per life of the Ref, and then wakes the life's Done waiters.
//
// Done's channel is made only for a caller of Done, so that a release that
// nobody waits for allocates nothing. Each life's waiters must wake exactly
// when that life's release returns, though Done may be called before the
// release, while it runs or after it, and a new life may begin (Reinit, or
// Init) while it runs, from inside it or from another goroutine, and may
// itself be released while the old release still runs. The argument, with
// every step below under the Ref's lock:
//
//   - The claim (stReleased) sets optRunning and reads the life's number,
//     n: 0, or the orphans' count if the Ref has one. optRunning is cleared
//     only by the same life's return, or by endLifeLocked when the life
//     ends while its release runs; endLifeLocked then adds 1 to the number,
//     which never goes down (Init keeps the orphans record), and moves the
//     life's channel, if Done made one, to the orphans list under n.
//   - So at its return the releaser finds the number still n exactly when
//     its life is the current one: no life ended since its claim, since a
//     life that ends while its release runs bumps the number, and a later
//     life can end only after this one did. It then clears optRunning and
//     closes the life's channel, if Done made one (before the return or
//     during the release). Otherwise its life was orphaned, and it closes
//     the channel filed under n, if any; it touches nothing of the current
//     life, which may be running a release of its own.
//   - Done returns the current life's channel if there is one; else, if
//     the life's release was claimed and optRunning is clear, that release
//     has returned (the claim sets both in one step; only the return or
//     the life's end clears optRunning, and the end starts a life that has
//     not claimed), so it returns the closed closedDone; else it makes the
//     channel, which the life's return closes as above.
//
// A release that panics never returns: its life's channel stays open, and a
// later Reinit orphans the life as if its release still ran. model/done.pml
// checks this argument with spin, and done_test.go forces its interleavings.
func (r *Ref) runRelease(op string) bool {
	m := r.lock()
	if r.cells.State.Or(stReleased)&stReleased != 0 {
		// A second zero: a Get on the released count (reported, and about
		// to poison it) was matched by this Put before the poison landed.
		// This Put is misuse too.
		m.Unlock()
		r.corrupt(op, 1, ErrReleased)
		return false
	}
	release, life := r.claimedLocked()
	m.Unlock()
	r.runClaimed(release, life)
	return true
}

// claimedLocked records, with the Ref's lock held, that the current life's
// release was just claimed (stReleased set by the caller), and returns the
// release to run and the life's number, for runClaimed.
func (r *Ref) claimedLocked() (release func(), life uint64) {
	r.cells.Flags |= optRunning
	return r.releaseLocked(), r.lifeLocked()
}

// runClaimed runs a claimed release, without the Ref's lock, and then wakes
// its life's Done waiters (returned).
func (r *Ref) runClaimed(release func(), life uint64) {
	debugRelease(r)
	if release != nil {
		release()
	}
	r.returned(life)
}

// returned ends the release of life number life (see runRelease): it wakes
// that life's Done waiters, and records that the release has returned if
// that life is still the current one.
func (r *Ref) returned(life uint64) {
	if testHookReturn != nil {
		testHookReturn()
	}
	m := r.lock()
	var done chan struct{}
	if x := r.extraLocked(false); r.lifeLocked() == life {
		r.cells.Flags &^= optRunning
		if x != nil {
			done = x.done // kept: Done returns it for the rest of the life
		}
	} else {
		done = x.orph.take(life) // a number above 0: x and x.orph exist
	}
	m.Unlock()
	if done != nil {
		close(done)
	}
}

// testHookReturn, set only by tests, runs between the return of release and
// the step that records it.
var testHookReturn func()

// lifeLocked returns the current life's number (see runRelease). The Ref's
// lock must be held.
func (r *Ref) lifeLocked() uint64 {
	if x := r.extraLocked(false); x != nil && x.orph != nil {
		return x.orph.life
	}
	return 0
}

// endLifeLocked ends the current life, for Reinit or Init, with the Ref's
// lock held: if its release still runs, the life is orphaned (see
// runRelease): its Done channel, if any, goes to the orphans list for that
// release to close, and the life's number goes up by one. The new life has
// no channel yet. It returns the Ref's orphans record, nil if it has none.
func (r *Ref) endLifeLocked() *orphans {
	x := r.extraLocked(false)
	if r.cells.Flags&optRunning != 0 {
		x = r.extraLocked(true)
		if x.orph == nil {
			x.orph = new(orphans)
		}
		if x.done != nil {
			x.orph.list = append(x.orph.list, orphan{x.orph.life, x.done})
		}
		x.orph.life++
		r.cells.Flags &^= optRunning
	}
	if x == nil {
		return nil
	}
	x.done = nil
	return x.orph
}

// take removes the channel of orphaned life number life from the list and
// returns it, or nil if that life had none.
func (o *orphans) take(life uint64) chan struct{} {
	for i, e := range o.list {
		if e.life == life {
			o.list = slices.Delete(o.list, i, i+1) // clears the freed element
			return e.done
		}
	}
	return nil
}

// corrupt reports a misuse that broke the count, which the operation found
// at count, and poisons the Ref so that it can never reach zero again: a
// leak instead of a wrong release.
func (r *Ref) corrupt(op string, count int64, err error) {
	m := r.lock()
	r.poisonLocked()
	m.Unlock()
	r.report(op, count, err)
}

// poisonLocked pins the count at poison, far below zero; the state bit says
// so first, so that whoever sees the poisoned count sees the bit. The Ref's
// lock must be held: a Reinit must not come between the two stores and
// leave a poisoned count without the bit. A count that is poisoned already
// is left alone: an operation that found it poisoned may have added to it
// and not yet undone its add, and a second store of poison would erase
// that add, leaving the undo to take the count one off poison for good
// (model/misuse.pml, MUTANT_REPOISON).
func (r *Ref) poisonLocked() {
	if r.cells.State.Or(stPoisoned)&stPoisoned == 0 {
		r.count.Store(poison)
	}
}

// saturateLocked poisons a count that passed MaxCount, saying so.
func (r *Ref) saturateLocked() {
	r.cells.State.Or(stSaturated)
	r.poisonLocked()
}

// zeroCauseLocked is why a Get on a count of zero is misuse: the Ref was
// released, or it was made with InitDead and never made live.
func (r *Ref) zeroCauseLocked() error {
	if r.cells.Flags&optFreshDead != 0 {
		return ErrNeverLive
	}
	return ErrReleased
}

// reportPoisoned reports op, a Get (get) or a Put, on a poisoned count,
// with the cause of the poisoning: the Ref was released (or never made
// live), or its count saturated.
func (r *Ref) reportPoisoned(op string, get bool) {
	m := r.lock()
	err := r.poisonCauseLocked(r.cells.State.Load(), get)
	m.Unlock()
	r.send(&MisuseError{Op: op, Err: err, Poisoned: true})
}

// poisonCauseLocked is the cause that a report on a count poisoned in state
// st names: the saturation; or, on a Ref that was not released, the
// underflow found at a switch; or, on a released one, the release (for a
// Get or a control operation: zeroCause) or the underflow (for a Put).
func (r *Ref) poisonCauseLocked(st uint32, get bool) error {
	switch {
	case st&stSaturated != 0:
		return ErrSaturated
	case st&stReleased == 0 || !get:
		return ErrUnderflow
	}
	return r.zeroCauseLocked()
}

// outOfRange handles a central add of op whose result v is in neither
// range of C ("The ranges of C" in protocol.go); found is the count the
// operation found (v less its delta). v just past MaxCount is a saturated
// atomic count; v below percpuLow a per-CPU count that more Puts than Gets
// took below zero, and v above percpuHigh a saturated per-CPU one. Either
// is misuse, whichever mode the Ref is in now: it poisons the count and is
// reported, unless a racing operation poisoned it first, when this one is
// reported as an operation on a poisoned count. In per-CPU mode the cells
// are folded into C first, so that the report names the count.
func (r *Ref) outOfRange(op string, get bool, found, v int64) {
	cause := ErrSaturated
	if v > gapMid && v < percpuLow {
		cause = ErrUnderflow
	}
	m := r.lock()
	st := r.cells.State.Load()
	if st&stPoisoned != 0 {
		m.Unlock()
		r.reportPoisoned(op, get)
		return
	}
	if st&stAtomic == 0 {
		// The fold poisons and names the count if it finds it out of range;
		// if operations since this one brought it back, the misuse stands.
		if err := r.toAtomicLocked(op, 0); err != nil {
			r.unlockReport(m, err)
			return
		}
		found = r.count.Load()
	}
	if cause == ErrSaturated {
		r.saturateLocked()
	} else {
		r.poisonLocked()
	}
	r.unlockReport(m, &MisuseError{Op: op, Count: found, Err: cause})
}

func (r *Ref) report(op string, count int64, err error) {
	r.send(&MisuseError{Op: op, Count: count, Err: err})
}

// send delivers e to the Ref's misuse handler, or else the process's (see
// SetMisuseHandler), or else panics with it.
func (r *Ref) send(e *MisuseError) {
	var h func(error)
	m := r.lock()
	if x := r.extraLocked(false); x != nil {
		h = x.onMisuse
	}
	m.Unlock()
	if h == nil {
		if p := defaultMisuseHandler.Load(); p != nil {
			h = *p
		}
	}
	debugMisuse(r, e, h != nil)
	if h != nil {
		h(e)
		return
	}
	panic(e)
}

// defaultMisuseHandler is SetMisuseHandler's handler, or nil.
var defaultMisuseHandler atomic.Pointer[func(error)]

// SetMisuseHandler makes every Ref that has no WithMisuseHandler of its own
// report misuse to h instead of panicking, or, with nil, panic again. One
// handler so serves any number of Refs at no cost per Ref (WithMisuseHandler
// takes a record per Ref). It may be called at any time, from any
// goroutine; a report uses the handler set when it is made.
func SetMisuseHandler(h func(error)) {
	if h == nil {
		defaultMisuseHandler.Store(nil)
		return
	}
	defaultMisuseHandler.Store(&h)
}

// toAtomicLocked sets bits and switches to atomic mode if the Ref is per-CPU
// (protocol.go). It returns the misuse found in the folded count, to be
// reported once the Ref's lock is released.
func (r *Ref) toAtomicLocked(op string, bits uint32) *MisuseError {
	if r.cells.State.Or(stAtomic|bits)&stAtomic != 0 {
		return nil
	}
	var sum int64
	if fastpath.Exclusive() {
		if r.cells.Len() > 0 { // a Lazy Ref without cells has no update to wait for
			fastpath.Quiesce()
		}
		for i := 0; i < r.cells.Len(); i++ {
			sum += cells.Stable(r.cells.Cell(i))
		}
	} else {
		for i := 0; i < r.cells.Len(); i++ {
			sum += r.cells.Cell(i).Swap(deadCell)
		}
	}
	v := r.count.Add(sum - bias)
	if r.cells.Flags&optAllowReinit == 0 {
		r.freeCells()
	}
	switch {
	case v <= 0:
		r.poisonLocked()
		return &MisuseError{Op: op, Count: v, Err: ErrUnderflow}
	case v > MaxCount:
		r.saturateLocked()
		return &MisuseError{Op: op, Count: v, Err: ErrSaturated}
	}
	return nil
}

// toPercpuLocked switches an atomic Ref back to per-CPU mode (protocol.go).
// A Ref at zero or poisoned stays atomic.
func (r *Ref) toPercpuLocked(op string) *MisuseError {
	if r.cells.Flags&optFreed != 0 {
		return &MisuseError{Op: op, Count: r.count.Load(), Err: ErrNoReinit}
	}
	if r.cells.State.Load()&stPoisoned != 0 {
		return nil
	}
	var left int64 // what the cells hold (exclusive protocol)
	if fastpath.Exclusive() {
		left = settle(&r.cells)
	}
	for {
		v := r.count.Load()
		if v == 0 {
			return nil
		}
		if r.count.CompareAndSwap(v, v+bias-left) {
			break
		}
	}
	if !fastpath.Exclusive() {
		settle(&r.cells)
	}
	r.cells.State.And(^uint32(stAtomic))
	return nil
}

// lockControl takes the Ref's lock for a mode change, returns it and checks
// that the Ref is set up and not exited. On failure the lock is released and
// the misuse reported.
func (r *Ref) lockControl(op string) (m *sync.Mutex, st uint32, ok bool) {
	m = r.lock()
	st = r.cells.State.Load()
	if st&(stInit|stExited) != stInit {
		m.Unlock()
		r.unusable(op, st, false)
		return nil, st, false
	}
	return m, st, true
}

// unlockReport releases m, the Ref's lock, and reports err, if any.
func (r *Ref) unlockReport(m *sync.Mutex, err *MisuseError) {
	m.Unlock()
	if err != nil {
		r.send(err)
	}
}

// releasedLocked is the misuse of op, a control operation that needs a
// live count, on a Ref in state st that was released or poisoned.
func (r *Ref) releasedLocked(op string, st uint32) *MisuseError {
	if st&stPoisoned != 0 {
		return &MisuseError{Op: op, Err: r.poisonCauseLocked(st, true), Poisoned: true}
	}
	return &MisuseError{Op: op, Count: r.count.Load(), Err: r.zeroCauseLocked()}
}

// Kill is KillAndConfirm(nil).
func (r *Ref) Kill() { r.KillAndConfirm(nil) }

// KillAndConfirm marks the Ref dying, switches it to atomic mode, calls
// confirm (if not nil), and then drops the initial reference. If that was
// the last reference, release runs inside KillAndConfirm, after confirm.
// When it returns, TryGetLive fails (unless confirm called Resurrect) and
// the count is exact: the next Put that reaches zero releases.
//
// A Kill that has begun finishes: if confirm panics (as a misuse it makes
// does by default), the initial reference is still dropped, as the panic
// unwinds. confirm may call Exit (the result is that of Kill, then Exit)
// or Resurrect (Kill then drops the reference Resurrect restored).
//
// Kill on a Ref that is already dying is reported as ErrKilled and changes
// nothing; unlike the kernel, no second reference is dropped.
func (r *Ref) KillAndConfirm(confirm func()) {
	m, st, ok := r.lockControl("Kill")
	if !ok {
		return
	}
	if st&stDying != 0 {
		r.unlockReport(m, &MisuseError{Op: "Kill", Count: r.countLocked(), Err: ErrKilled})
		return
	}
	if st&(stReleased|stPoisoned) != 0 { // released without Kill, or poisoned
		r.unlockReport(m, r.releasedLocked("Kill", st))
		return
	}
	err := r.toAtomicLocked("Kill", stDying)
	if err == nil && confirm == nil {
		r.dropInitialLocked(m)
		return
	}
	r.unlockReport(m, err)
	if err == nil { // a count poisoned at the fold keeps every reference
		defer r.dropInitial() // after confirm, even if confirm panics
	}
	if confirm != nil {
		confirm()
	}
}

// dropInitialLocked is dropInitial for a Kill without confirm, made before
// it lets go of m, the Ref's lock, which it holds since the switch: if the
// initial reference was the last, the release is claimed in the same
// critical section, which spares a Kill that releases a second round on
// the lock (runRelease's). Nothing else can have claimed it: a claim takes
// the lock, and the Ref was neither released nor poisoned when Kill took
// it. A count below zero is a Put too many, which putChecked reports
// without the lock, as dropInitial would.
func (r *Ref) dropInitialLocked(m *sync.Mutex) {
	v := r.count.Add(-1)
	if v != 0 {
		m.Unlock()
		if v < 0 {
			r.putChecked("Kill", 1, v)
		}
		return
	}
	r.cells.State.Or(stReleased)
	release, life := r.claimedLocked()
	m.Unlock()
	r.runClaimed(release, life)
}

// dropInitial drops the initial reference for Kill, which has switched the
// Ref to atomic mode. An Exit since then (from confirm, or from another
// goroutine) does not stop it: Kill has begun, and happens whole, as if the
// Exit had come after it; the count Exit left is the one Kill drops from.
func (r *Ref) dropInitial() {
	if v := r.count.Add(-1); v <= 0 {
		r.putChecked("Kill", 1, v)
	}
}

// SwitchToAtomic switches the Ref to atomic mode without killing it, then
// calls confirm (if not nil) before returning. The mode is sticky: Reinit
// and Resurrect keep it, until SwitchToPercpu. In atomic mode every Put
// that takes the count to zero releases, exactly as a kref.
//
// Concurrent switches are serialised; each confirm runs before its own
// call returns, but two racing calls may run their confirms in either order.
func (r *Ref) SwitchToAtomic(confirm func()) {
	m, st, ok := r.lockControl("SwitchToAtomic")
	if !ok {
		return
	}
	if st&stPoisoned != 0 {
		r.unlockReport(m, r.releasedLocked("SwitchToAtomic", st))
		return
	}
	r.cells.Flags |= optSticky
	r.unlockReport(m, r.toAtomicLocked("SwitchToAtomic", 0))
	if confirm != nil {
		confirm()
	}
}

// SwitchToAtomicSync is SwitchToAtomic(nil): it returns once the Ref is in
// atomic mode.
func (r *Ref) SwitchToAtomicSync() { r.SwitchToAtomic(nil) }

// SwitchToPercpu takes an atomic Ref back to per-CPU mode and clears the
// stickiness of InitAtomic and SwitchToAtomic. On a dying Ref it only clears
// the stickiness: the next Resurrect or Reinit goes per-CPU. A Ref whose
// count is zero stays atomic until Reinit. If the shards were freed (no
// AllowReinit), in any state, or the count was poisoned by misuse, it is
// reported (ErrNoReinit, or the poisoning's cause) and changes nothing.
func (r *Ref) SwitchToPercpu() {
	m, st, ok := r.lockControl("SwitchToPercpu")
	if !ok {
		return
	}
	if st&stPoisoned != 0 {
		r.unlockReport(m, r.releasedLocked("SwitchToPercpu", st))
		return
	}
	if r.cells.Flags&optFreed != 0 { // never per-CPU again, in any state
		r.unlockReport(m, &MisuseError{Op: "SwitchToPercpu", Count: r.countLocked(), Err: ErrNoReinit})
		return
	}
	r.cells.Flags &^= optSticky
	if st&stAtomic == 0 || st&stDying != 0 {
		m.Unlock()
		return
	}
	r.cellsLocked()
	r.unlockReport(m, r.toPercpuLocked("SwitchToPercpu"))
}

// Resurrect makes a dying Ref live again, restoring the initial reference
// that Kill dropped, and returns it to per-CPU mode unless it is sticky
// atomic. The count must still be above zero: Resurrect after release
// reports ErrReleased, Resurrect on a live Ref reports ErrLive, and a Ref
// whose shards were freed reports ErrNoReinit; in each case nothing changes.
func (r *Ref) Resurrect() {
	const op = "Resurrect"
	m, st, ok := r.lockControl(op)
	if !ok {
		return
	}
	if st&(stReleased|stPoisoned) != 0 {
		r.unlockReport(m, r.releasedLocked(op, st))
		return
	}
	if st&stDying == 0 {
		r.unlockReport(m, &MisuseError{Op: op, Count: r.countLocked(), Err: ErrLive})
		return
	}
	percpuNext := r.cells.Flags&optSticky == 0
	if percpuNext && r.cells.Flags&optFreed != 0 {
		r.unlockReport(m, &MisuseError{Op: op, Count: r.count.Load(), Err: ErrNoReinit})
		return
	}
	for {
		v := r.count.Load()
		if v <= 0 {
			// Reached zero, and its Put is about to claim the release.
			r.unlockReport(m, &MisuseError{Op: op, Count: v, Err: ErrReleased})
			return
		}
		if r.count.CompareAndSwap(v, v+1) {
			break
		}
	}
	r.cells.State.And(^uint32(stDying))
	var err *MisuseError
	if percpuNext {
		r.cellsLocked()
		err = r.toPercpuLocked(op)
	}
	r.unlockReport(m, err)
}

// Reinit makes a Ref whose count reached zero (or one made with InitDead)
// live again with a count of 1, as after New, in per-CPU mode unless it is
// sticky atomic; Done then returns the new life's channel (but the first
// Reinit of an InitDead Ref keeps its channel, which is the first life's).
// This is the resurrection of a cached object after release; the caller
// must serialise Reinit against lookups that could Get the Ref (for example
// by holding the lock of the cache), and asserts that no goroutine still
// uses the old life: a Get or Put of the old life still in flight (misuse)
// may count in the new one. It may be called from release, or while release
// still runs elsewhere; if the Put that reached zero has not yet begun release, Reinit
// waits the few instructions until it has, so the old life's release always
// runs, once, and is never counted as the new life's. The old life's Done
// waiters still wake when the old release returns, not before, even if the
// new life is released first. Reinit while the count is not zero reports
// ErrNotZero and changes nothing.
func (r *Ref) Reinit() {
	const op = "Reinit"
	m, st, ok := r.lockControl(op)
	if !ok {
		return
	}
	// A life ends when its release is claimed (stReleased, set by
	// runRelease under the Ref's lock, which we hold, so it cannot change
	// under us). Without the claim there is no Reinit: if the count is zero, the Put
	// that reached zero has yet to claim its release, so let it (a few
	// instructions of that Put, no user code) and look again; otherwise
	// references are held. The count is not enough on its own: it can reach
	// zero between a check and the compare-and-swap below.
	for st&stAtomic != 0 && st&stReleased == 0 && r.count.Load() == 0 {
		m.Unlock()
		runtime.Gosched()
		if m, st, ok = r.lockControl(op); !ok {
			return
		}
	}
	if st&(stPoisoned|stReleased) == stPoisoned {
		// Saturated, or an underflow found at a switch: references may
		// still be held, so no new life.
		r.unlockReport(m, r.releasedLocked(op, st))
		return
	}
	percpuNext := r.cells.Flags&optSticky == 0
	if percpuNext && r.cells.Flags&optFreed != 0 {
		r.unlockReport(m, &MisuseError{Op: op, Count: r.countLocked(), Err: ErrNoReinit})
		return
	}
	if st&stPoisoned != 0 {
		// Released, then misused: the caller asserts, as for every Reinit,
		// that no holder remains, so the poison has done its work.
		r.count.Store(0)
	}
	if st&stReleased == 0 || !r.count.CompareAndSwap(0, 1) {
		r.unlockReport(m, &MisuseError{Op: op, Count: r.countLocked(), Err: ErrNotZero})
		return
	}
	if r.cells.Flags&optFreshDead == 0 {
		r.endLifeLocked() // the old life's channel is closed, or will be when its release returns
	}
	r.cells.Flags &^= optFreshDead
	r.cells.State.And(^uint32(stDying | stReleased | stPoisoned | stSaturated))
	var err *MisuseError
	if percpuNext {
		r.cellsLocked()
		err = r.toPercpuLocked(op)
	}
	r.unlockReport(m, err)
}

// Exit frees the per-CPU shards, folding them into the count first. The Ref
// then reports its final count (Read, IsZero) but takes no more operations:
// each is reported as ErrExited. Exit may be called from release. Exit on a
// Ref that was never set up, or a second Exit, does nothing. Init makes an
// exited Ref usable again.
func (r *Ref) Exit() {
	m := r.lock()
	if st := r.cells.State.Load(); st&(stInit|stExited) != stInit {
		m.Unlock()
		return
	}
	err := r.toAtomicLocked("Exit", stExited)
	r.freeCells()
	r.unlockReport(m, err)
}

// IsZero reports whether the count is zero. It is false in per-CPU mode,
// where the owner's initial reference is held, and false on a Ref whose
// count saturated. It is true once release has begun (even while it still
// runs, and after later misuse), on a Ref made with InitDead until Reinit,
// and on a zero Ref that was never set up, whose count is 0 (Read).
func (r *Ref) IsZero() bool {
	st := r.cells.State.Load()
	switch {
	case st&stInit == 0:
		return r.count.Load() == 0
	case st&stReleased != 0:
		return true
	}
	return st&(stAtomic|stPoisoned) == stAtomic && r.count.Load() == 0
}

// IsDying reports whether the Ref has been killed (or made with InitDead)
// and not brought back by Resurrect or Reinit.
func (r *Ref) IsDying() bool { return r.cells.State.Load()&stDying != 0 }

// IsPercpu reports whether the Ref is in per-CPU mode.
func (r *Ref) IsPercpu() bool { return r.cells.State.Load()&(stInit|stAtomic) == stInit }

// Read returns the count. In atomic mode it is exact; in per-CPU mode it is
// the sum of the shards and the central count, taken while other goroutines
// may move them, so it is exact only when no Get or Put runs concurrently.
// A count poisoned by misuse reads as 0 if the Ref was released (or never
// made live) and as MaxCount if it saturated.
func (r *Ref) Read() int64 {
	defer r.lock().Unlock()
	return r.countLocked()
}

func (r *Ref) countLocked() int64 {
	v := r.count.Load() // 0 in a Ref that was never set up
	if st := r.cells.State.Load(); st&stPoisoned != 0 {
		return shownCount(st, v)
	}

	if r.cells.State.Load()&(stInit|stAtomic) != stInit {
		return v
	}
	v -= bias
	for i := 0; i < r.cells.Len(); i++ {
		if fastpath.Exclusive() {
			v += cells.Stable(r.cells.Cell(i))
		} else {
			v += r.cells.Cell(i).Load()
		}
	}
	return v
}

// shownCount is the count a Ref in atomic state st with central count v
// shows: v, but for a count poisoned by misuse, 0 if the Ref was released
// (or never made live) and MaxCount otherwise (saturated, or an underflow
// found at a switch: the Ref leaks).
func shownCount(st uint32, v int64) int64 {
	switch {
	case st&stPoisoned == 0:
		return v
	case st&stReleased != 0:
		return 0
	}
	return MaxCount
}

// Done returns a channel that is closed when release has returned. Within
// one life of the Ref every call returns the same channel, if the first was
// made before release returned; after release has returned Done may return
// a closed channel that other Refs share. After Reinit, Done returns the new
// life's channel, which closes when the new life's release returns, even if
// the old life's release still runs. The channel is made by the first call
// that needs one: a Ref whose Done is never called allocates none.
func (r *Ref) Done() <-chan struct{} {
	defer r.lock().Unlock()
	return r.doneLocked()
}

// doneLocked is Done with the Ref's lock held; see runRelease for why it is
// exact.
func (r *Ref) doneLocked() chan struct{} {
	x := r.extraLocked(false)
	if x != nil && x.done != nil {
		return x.done
	}
	if r.cells.State.Load()&stReleased != 0 && r.cells.Flags&(optRunning|optFreshDead) == 0 {
		return closedDone // this life's release has returned
	}
	x = r.extraLocked(true)
	x.done = make(chan struct{})
	return x.done
}
