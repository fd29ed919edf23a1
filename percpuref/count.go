package percpuref

import (
	"sync"

	"github.com/percpuref/percpu/internal/fastpath"
)

// The per-CPU dispatch. Every counting operation loads the state once and,
// in per-CPU mode, tries to count its delta d on the caller's cell before it
// turns to the central count, which is exact in either mode:
//
//	st == stPercpu && (r.exclusive(d) || r.fetchAddOrLazy(d))
//
// This is the kernel's __ref_is_percpu followed by its this_cpu_add, in the
// shape that Go's inliner allows. An inlined function may make one call (a
// call costs 57 of the inliner's budget of 80), and a function that is not
// inlined is a frame of its own, which costs as much as the single-writer
// update it would wrap. So exclusive, the update of the assembly protocol,
// inlines into the operation and calls the assembly directly: one call in
// all. Everything else in per-CPU mode (the fetchadd protocol's add, a Lazy
// Ref's compare-and-swap) is one function, not inlined, which each
// operation calls as it called each of them before they were one. A single
// helper holding both calls would not inline, and would put its frame
// between every operation and the assembly. inline_test.go checks that
// exclusive, and the other small helpers of the fast paths, still inline.
//
// The state check is the assembly's own (and AddLocal's); made first, once,
// it spares an operation in atomic mode the call and lets Get and Put reuse
// the state they loaded. Get, Put, TryGet and TryGetLive go further on
// amd64: their common paths are assembly (fast_amd64.s), reached from the
// caller with no Go frame between, since a Go Get that checks the state and
// calls the update would be such a frame.

// exclusive is the fast path of the exclusive protocol, if that is the
// process's protocol (fastpath.Exclusive), and reports whether it counted
// d. It is the single-writer update of fastpath.UpdateLocal (UPDATE in
// update_amd64.h; atomic_arm64.s), with plain loads and stores, on the cell
// of the caller's P:
//
//	v = c; c = v + busyMark
//	if S == stPercpu and v+d stays within ±CellLimit { c = v + d } else { c = v }
//
// A cell is written only by a goroutine running on its P, inside the
// assembly routine, which reads the P id from the runtime's g.m.p and is
// never preempted or moved (no stack check; the runtime never stops a
// goroutine at an assembly instruction): no other goroutine writes that
// cell until the routine returns, so the update needs no locked
// instruction. The generic twin pins with procPin instead. P ids above the
// last cell (GOMAXPROCS grew after the Ref was made) are refused, and so is
// a nil Base (no cells yet, or given back). If it stored v (refused), the
// operation is redone on C, as a dead cell's is in the fetchadd protocol. The
// busy mark (cells.BusyMark) sits in the count word itself, so that cells
// can be dense 8-byte slots; toAtomicLocked argues why a switch loses no
// update and counts none twice.
func (r *Ref) exclusive(d int64) bool {
	return fastpath.Exclusive() && fastpath.UpdateLocal(&r.cells, d)
}

// fetchAddOrLazy is the rest of the dispatch: the fast path of the fetchadd
// protocol, if that is the process's, and then a Lazy Ref's counting on C.
// It reports whether it counted d; false sends the caller to the central
// count.
//
// The fetchadd protocol's fast path: an operation with delta d (+n for a Get,
// -n for a Put) that loads S == stPercpu does old := c[p].Add(d) - d on the
// cell p of its P (fastpath.AddLocal) and looks at old, the value it added
// to. Because the add is one atomic read-modify-write, old tells exactly
// which side of any concurrent swap of that cell the add fell on:
//
//   - old is live: the add happened before any harvest of this cell, so the
//     harvest (if one comes) will collect d. The operation is done.
//   - old is dead (< deadBelow): the cell was already harvested, so d will
//     never be collected; it is void. The operation redoes itself on C, with
//     the atomic-mode rules (zero check, use-after-release check, the dying
//     check for TryGetLive).
//
// No operation is counted twice or never: each add on a cell lands on
// exactly one side of the swap that harvests it.
//
// A Lazy Ref (every Ref made without Eager or WithShards, until it spreads)
// is in per-CPU mode with no cells: both protocols' updates refuse, and the
// operation counts d on C, which carries the bias, with a compare-and-swap.
// A compare-and-swap that fails means that another goroutine changed C
// meanwhile: contention, and spread gives the Ref its cells. Only a C that
// carries the bias is counted on (within ±lazyRange of it): if a switch to
// atomic mode has run since the caller loaded the state, C no longer does.
//
// The two are one function so that each is one call from the operation
// (see the dispatch above).
func (r *Ref) fetchAddOrLazy(d int64) bool {
	if !fastpath.Exclusive() {
		old, ok := fastpath.AddLocal(&r.cells, d)
		if ok && (isLive(old) || r.offRange(old)) {
			return true
		}
	}
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

// offRange handles an add made by fetchAddOrLazy on a cell whose old value
// was not live. It reports whether the add stands: true if the cell was
// drifting (the cell is then folded into the central count), false if the
// cell was dead, and the caller must redo the operation on the central
// count.
//
// In per-CPU mode a cell's value is the Gets minus the Puts made on it, so
// Gets on one P and Puts on another drive two cells apart without bound.
// An add whose old value is outside [-liveLimit, +liveLimit] but not dead
// takes the Ref's lock and, if the Ref is still per-CPU, moves the whole
// cell into C (v := c.Swap(0); C.Add(v)). With the lock held no switch
// runs, and the bias keeps C far from 0 while v is in flight. Reaching the
// limit takes 2^48 unmatched operations on one cell; it is there so that
// the argument has no "in practice".
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
		if !tried && r.exclusive(1) || r.fetchAddOrLazy(1) {
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
	if r.cells.State.Load() == stPercpu && (r.exclusive(int64(n)) || r.fetchAddOrLazy(int64(n))) {
		return
	}
	r.getCentral("GetMany", int64(n))
}

// Put drops a reference. It returns true iff this call dropped the last
// reference and ran release (synchronously, in this goroutine, before Put
// returns). In per-CPU mode Put never releases: the owner's initial
// reference is still held.
//
// Everything the caller did before Put happens before release runs,
// whichever goroutine runs it: in the terminology of the Go memory model,
// Put synchronizes before the start of release, as every Put, PutMany,
// PutLocked and Kill of the Ref's life does (protocol.go, "Memory order").
func (r *Ref) Put() bool {
	debugPut(r, 1)
	return putFast(r)
}

// put is Put past the fast path of fast_amd64.s, or all of Put where that
// fast path is not built; tried is as for get.
func (r *Ref) put(tried bool) bool {
	st := r.cells.State.Load()
	if st == stPercpu {
		if !tried && r.exclusive(-1) || r.fetchAddOrLazy(-1) {
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
// Put reports, and orders memory as Put does.
func (r *Ref) PutMany(n int) bool {
	if !r.validDelta("PutMany", n) {
		return false
	}
	debugPut(r, n)
	if r.cells.State.Load() == stPercpu && (r.exclusive(-int64(n)) || r.fetchAddOrLazy(-int64(n))) {
		return false
	}
	return r.putCentral("PutMany", int64(n))
}

// PutLocked drops a reference as kref_put_mutex does: if this may be the
// last reference, it takes mu first, so that release runs with mu held and
// no lookup under mu can find the object between the count reaching zero
// and release unlinking it. PutLocked unlocks mu after release returns
// (unlike kref_put_mutex, where release must unlock). mu is not taken when
// other references remain, which is every Put in per-CPU mode. Memory is
// ordered as for Put.
func (r *Ref) PutLocked(mu sync.Locker) bool {
	debugPut(r, 1)
	if r.cells.State.Load() == stPercpu && (r.exclusive(-1) || r.fetchAddOrLazy(-1)) {
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
	if r.cells.State.Load() == stPercpu && (!tried && r.exclusive(1) || r.fetchAddOrLazy(1)) {
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
	ok := r.cells.State.Load() == stPercpu && (r.exclusive(int64(n)) || r.fetchAddOrLazy(int64(n))) || r.tryGetCentral("TryGetMany", int64(n), false)
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

func (r *Ref) validDelta(op string, n int) bool {
	if n > 0 && n <= MaxDelta {
		return true
	}
	r.report(op, int64(n), ErrBadDelta)
	return false
}
