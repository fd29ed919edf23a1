package percpuref

import "github.com/percpuref/percpu/internal/cells"

// The constants of the switch protocols, and the argument that holds across
// their steps.
//
// This is why a Ref never loses a Get or Put, never releases early and
// releases exactly once, with one mutex that is never held on the fast
// path. Each step's own reasoning is at the code that takes it: the per-CPU
// updates and a Lazy Ref's compare-and-swap in exclusive and fetchAddOrLazy,
// drift in offRange, a Lazy Ref's spreading in spread, the switches in
// toAtomicLocked and toPercpuLocked, a slot's leftovers in settle, its reuse
// in freeCells, the release claim in runRelease. What they have in common
// is here. The Promela models in model/ check the same steps.
//
// # State
//
// A Ref has a central count C (Ref.count), a state word S
// (Ref.cells.State), and per-CPU cells c[0..n) (Ref.cells: a slot in the
// per-P slabs, padded shards of its own, or none yet for a Lazy Ref). S's
// stAtomic bit, and the cells' own values, are the mode:
//
//   - per-CPU mode: S == stPercpu. C carries bias. The logical count is
//     C - bias + Σ c[i].
//   - atomic mode: S has stAtomic. C is the logical count and has no bias;
//     no update counts on a cell (each is dead, holds what the switch
//     summed, or is no longer reachable).
//
// Mode changes (Kill, SwitchToAtomic, SwitchToPercpu, Resurrect, Reinit,
// Exit) happen only with the Ref's lock held, so they never overlap each
// other. Get, Put and the TryGet family never take the Ref's lock in the
// common case.
//
// # The two protocols
//
// A process counts on the cells with one of two protocols, chosen at start
// (fastpath.Exclusive()); C, the bias, release and the mode bits are the
// same for both.
//
//   - fetchadd: every cell update is an atomic fetch-and-add, and a switch to atomic
//     mode swaps each cell to a dead sentinel (deadCell). Only sync/atomic.
//     This is the generic path: purego and race builds, other GOARCHes, and
//     wherever membarrier is missing. Its invariant: every add on a cell
//     lands on exactly one side of the swap that harvests it, and its old
//     value says which (fetchAddOrLazy), so no operation is counted twice or
//     never. A live cell holds a value in [-liveLimit, +liveLimit] but for rare
//     excursions (offRange); a dead one stays below deadBelow.
//   - exclusive: the update is a plain store by the one goroutine pinned on
//     the cell's P, marked busy while it works (exclusive), and a switch
//     pays with a membarrier system call. This is the assembly path. Its
//     invariant: every update either stored before the value that the
//     switch reads from its cell or saw the new state and stored back the
//     value it loaded, so cells are never written from another CPU; a Ref
//     entering per-CPU mode absorbs what they hold into C instead of
//     zeroing them (settle).
//
// # The ranges of C
//
// In atomic mode C is the count L, in [0, MaxCount] (2^60). In per-CPU mode
// C = bias + L - Σ c[i] with |Σ c[i]| < 2^59 (a cell stays within
// liveLimit, 2^48, and a Ref has at most slots.MaxCells, 2^10, of them), so
// C is in (percpuLow, percpuHigh) = (bias - 2^59, bias + MaxCount + 2^59),
// which lies wholly above MaxCount: C can neither reach 0 nor overflow.
// Every add on C returns its result v, and v says where C
// was: in [1, MaxCount] (atomic, valid), in the per-CPU range (valid), at or
// below 0 (release, or misuse on an atomic count), or in the gap between
// MaxCount and percpuLow, or above percpuHigh, which no valid count reaches
// in either mode. In the gap, v just above MaxCount is an atomic count that a
// Get saturated, and v just below percpuLow a per-CPU count that more Puts
// than Gets on C took below zero: the operations in flight move C by a few
// MaxDelta, far less than the half of the gap (2^58) that separates the two.
// So the central path checks its range in per-CPU mode as it does in atomic
// mode, and an operation whose result left both ranges is misuse whichever
// mode it loaded (outOfRange). A Lazy Ref counts on C only within ±lazyRange
// of the bias, inside the per-CPU range and so never on an atomic count.
//
// # Release runs once
//
// Release runs only in the operation whose add on C returns exactly 0, and
// a zero is reached by one add on C. A second zero
// needs a Get on a count of 0, which is misuse: it is reported and the count
// is poisoned (pinned at poison, -2^62, as the kernel's refcount_t saturates
// at INT_MIN/2). A poisoned count takes every Get (its result is at most 1)
// and every Put (its result is below 0) off the fast path, in the assembly
// too, and each of them is reported and undoes its own add, so the count
// never moves from poison once the operations in flight have finished, and
// can never come near 0 or MaxCount. Even so, release is guarded by the
// stReleased bit, set with an atomic Or, so a second zero can never run it
// again; only Reinit clears the bit.
//
// # Memory order
//
// Everything a goroutine did before its Put (or Kill) happens before
// release runs, and release's return happens before Done's channel is
// closed: the rule that Put, Kill, Done and Wait state. Every operation on C
// is a sync/atomic read-modify-write, and those are sequentially consistent
// in Go; release runs after the add that takes C to 0, which reads from
// every earlier add on C. A Put counted on C (the central path, or a Lazy
// Ref's compare-and-swap) is such an add, and so are Kill's switch and its
// drop of the initial reference. A Put counted on a cell reaches C through
// the fold that collects the cell, which adds to C after it has read the
// cell: in the fetchadd protocol with an atomic swap, which reads from every
// atomic add on the cell; in the exclusive protocol with cells.Stable's
// atomic load, after the membarrier, of the value that the update stored
// last, a store that follows the update's earlier memory operations (x86
// keeps stores in order; arm64 stores with release). runRelease closes the
// Done channel after release returns, with the Ref's lock held, and Done
// returns a channel that is closed already only when, under the same lock,
// it finds that the release returned.
const (
	bias      = 1 << 61
	deadCell  = -(1 << 62)
	deadBelow = -(1 << 61)
	liveLimit = cells.Limit
	poison    = -(1 << 62)
	// poisonZone: an atomic-mode count below it is poisoned. A valid count
	// is in [0, MaxCount]; the first misuse that breaks it stores poison,
	// and every later operation that moves it undoes its own delta, so
	// operations in flight leave it within MaxDelta times the number of
	// goroutines of poison, far below poisonZone and far from 0.
	poisonZone = -(1 << 61)

	// percpuLow and percpuHigh bound C in per-CPU mode (see "The ranges of
	// C" above); gapMid splits the gap below percpuLow.
	percpuLow  = bias - 1<<59
	percpuHigh = bias + MaxCount + 1<<59
	gapMid     = (MaxCount + percpuLow) / 2
)

// A Lazy Ref's compare-and-swap leaves C within lazyRange of the bias:
// inside the per-CPU range, so it never takes C out of it unreported.
const _ = uint(percpuLow - (bias - lazyRange))

// biased reports whether v, a value of C, is in the range that C holds in
// per-CPU mode, in one compare.
func biased(v int64) bool { return uint64(v-percpuLow) <= percpuHigh-percpuLow }

// MaxCount is the largest count a Ref holds, 2^60. A Get that would pass
// it is reported as ErrSaturated and the count is pinned (the Ref leaks),
// as refcount_t does; it never wraps. It is far below 2^63 so that the
// count's range in atomic mode and the central count's range in per-CPU
// mode are disjoint: either mode's operations on the central count check
// their result against both.
const MaxCount = 1 << 60

// MaxDelta is the largest n that GetMany, PutMany and TryGetMany accept:
// 2^31-1, so that every valid n is an int on 32-bit platforms too.
const MaxDelta = 1<<31 - 1

// isLive reports whether v, the old value of a cell, is within the live
// range, in one compare.
func isLive(v int64) bool { return uint64(v+liveLimit) <= 2*liveLimit }
