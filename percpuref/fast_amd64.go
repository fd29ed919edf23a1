//go:build !purego && !race

package percpuref

import (
	"unsafe"

	"github.com/percpuref/percpu/internal/fastpath"
)

// Get, Put, TryGet and TryGetLive have their fast paths in assembly
// (fast_amd64.s) on amd64: each inlines to one direct call of the assembly,
// which reaches the per-CPU update, a Lazy Ref's compare-and-swap, or (Get
// and Put) the atomic add of atomic mode with no Go frame between (count.go,
// "The per-CPU dispatch", says why a Go Get would cost a frame more, and
// what that costs). The assembly does what get, put and tryGet do, in the
// same order, and jumps to them (through the functions below) for
// everything else: a Ref in per-CPU mode whose update the cells refused (a
// P beyond them, a switch under way), a Lazy Ref's failed swap, and every
// misuse. BenchmarkGetPut and BenchmarkTryGetLive measure what this saves.

// getFast is Get's fast path: in per-CPU mode the update of fastpath.UpdateLocal
// (update_amd64.h) on r.cells, and in a usable atomic mode r.count.Add(1)
// with get's range check; otherwise getSlow. Not go:noescape: its slow
// path may hand r to runtime.AddCleanup (a Lazy Ref taking its slot).
func getFast(r *Ref)

// putFast is Put's fast path, as getFast is Get's: r.count.Add(-1) in
// atomic mode, then putAdded if the result is not atomicValid.
func putFast(r *Ref) bool

// tryGetFast and tryGetLiveFast are the fast paths of TryGet and
// TryGetLive: in per-CPU mode, getFast's update or Lazy compare-and-swap,
// which always succeed there; in a usable atomic mode (not dying, for
// TryGetLive) tryGetCentral's compare-and-swap loop on a count in [1,
// MaxCount); otherwise tryGetSlow and tryGetLiveSlow.
func tryGetFast(r *Ref) bool
func tryGetLiveFast(r *Ref) bool

// getAddedAX and putAddedAX pass the count that getFast's and putFast's add
// returned, in a register, on to getAdded and putAdded. They are entered
// only by a jump from getFast and putFast, never called: from Go, AX would
// hold no count.
func getAddedAX(r *Ref)
func putAddedAX(r *Ref) bool

// The assembly's calls into Go. (The blank variable tells tools that look
// only at Go code, staticcheck's unused check among them, that they are used.)

func getSlow(r *Ref)                { r.get(true) }
func putSlow(r *Ref) bool           { return r.put(true) }
func getAdded(r *Ref, v int64)      { r.getChecked("Get", 1, v) }
func putAdded(r *Ref, v int64) bool { return r.putChecked("Put", 1, v) }

// getSpread and putSpread follow a Lazy Ref's failed compare-and-swap, as
// fetchAddOrLazy does: take the cells, then count on C (get and put, whose
// fetchAddOrLazy now finds the cells, or a switch, and declines).
func getSpread(r *Ref)      { r.spread(); r.get(true) }
func putSpread(r *Ref) bool { r.spread(); return r.put(true) }

// getUntried, putUntried, tryGetUntried and tryGetLiveUntried follow a
// runtime layout that the assembly does not know (its mOffP is 0): the
// exclusive protocol's procPin tier, where fastpath.UpdatePinned finds the P
// with procPin, or the fetchadd protocol. The per-CPU update is tried here,
// then the rest of get, put and tryGet as after the assembly's refusal.
func getUntried(r *Ref) {
	if !fastpath.Exclusive() || !fastpath.UpdatePinned(&r.cells, 1) {
		r.get(fastpath.Exclusive())
	}
}

func putUntried(r *Ref) bool {
	if fastpath.Exclusive() && fastpath.UpdatePinned(&r.cells, -1) {
		return false
	}
	return r.put(fastpath.Exclusive())
}

func tryGetUntried(r *Ref) bool {
	return fastpath.Exclusive() && fastpath.UpdatePinned(&r.cells, 1) || r.tryGet(fastpath.Exclusive(), false)
}

func tryGetLiveUntried(r *Ref) bool {
	return fastpath.Exclusive() && fastpath.UpdatePinned(&r.cells, 1) || r.tryGet(fastpath.Exclusive(), true)
}

func tryGetSlow(r *Ref) bool       { return r.tryGet(true, false) }
func tryGetLiveSlow(r *Ref) bool   { return r.tryGet(true, true) }
func tryGetSpread(r *Ref) bool     { r.spread(); return r.tryGet(true, false) }
func tryGetLiveSpread(r *Ref) bool { r.spread(); return r.tryGet(true, true) }

var _ = []any{
	getSlow, putSlow, getAdded, putAdded, getSpread, putSpread, getAddedAX, putAddedAX,
	tryGetSlow, tryGetLiveSlow, tryGetSpread, tryGetLiveSpread, &mOffP,
	getUntried, putUntried, tryGetUntried, tryGetLiveUntried,
}

// mOffP is package percpu's offset of m.p, for LOCATE in update_amd64.h,
// and 0 (every update refused) unless the exclusive protocol is the one in
// use: the assembly cannot name another package's variable whose path has a
// dot in it.
var mOffP uintptr

//go:linkname percpuMOffP github.com/percpuref/percpu.mOffP
var percpuMOffP uintptr

func init() {
	if fastpath.Exclusive() {
		mOffP = percpuMOffP
	}
}

// The assembly reads a Ref at fixed offsets: cells at 0 (cells.Cells:
// Base 0, State 8, Last 12, Shift 14) and count at 16. Both lines fail to
// compile if the layout moves.
var (
	_ = [1]struct{}{}[unsafe.Offsetof(Ref{}.cells)]
	_ = [1]struct{}{}[unsafe.Offsetof(Ref{}.count)-16]
)

// The constants the assembly spells out.
const (
	_ = uint(MaxCount - 1<<60)
	_ = uint(1<<60 - MaxCount)
	_ = uint(stInit - 1)
	_ = uint(1 - stInit)
	_ = uint(stExited - 8)
	_ = uint(8 - stExited)
	_ = uint((stInit | stAtomic | stExited) - 11)
	_ = uint(11 - (stInit | stAtomic | stExited))
	_ = uint((stInit | stAtomic | stDying | stExited) - 15)
	_ = uint(15 - (stInit | stAtomic | stDying | stExited))
	_ = uint(bias - 1<<61)
	_ = uint(1<<61 - bias)
	_ = uint(lazyRange - 1<<59)
	_ = uint(1<<59 - lazyRange)
)
