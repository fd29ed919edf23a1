package percpuref

import "github.com/percpuref/percpu/internal/cells"

// The switch protocols.
//
// This is the argument for why a Ref never loses a Get or Put, never
// releases early and releases exactly once, with one mutex that is never
// held on the fast path. There are two protocols for the per-CPU cells, and
// a process uses one of them (fastpath.Exclusive(), chosen at start):
//
//   - shared, below: every cell update is an atomic add, and a switch
//     swaps each cell to a dead sentinel. Only sync/atomic. This is the
//     generic path (purego and race builds, other GOARCHes, and wherever
//     membarrier is missing).
//   - exclusive, at the end: the update is a plain store by the one
//     goroutine pinned on the cell's P, guarded by a busy flag, and a
//     switch pays with a membarrier system call. This is the assembly path.
//
// Everything about the central count, the bias, release and the mode bits
// is the same for both. The Promela models in model/ check the same steps.
//
// # State
//
// A Ref has a central count C (Ref.count), a state word S (Ref.state), and a
// Set of shard cells c[0..n) (Ref.shards). S's stAtomic bit, and the shard
// cells' own values, are the mode:
//
//   - per-CPU mode: S == stPercpu. Every cell holds a live value, in
//     [-liveLimit, +liveLimit] but for rare excursions described below.
//     C carries bias. The logical count is C - bias + Σ c[i].
//   - atomic mode: S has stAtomic. C is the logical count and has no bias;
//     every cell is dead (far below deadBelow) or no longer reachable.
//
// Mode changes (Kill, SwitchToAtomic, SwitchToPercpu, Resurrect, Reinit,
// Exit) happen only with the Ref's lock held, so they never overlap each
// other.
// Get, Put and the TryGet family never take the Ref's lock in the common case.
//
// # The fast path
//
// An operation with delta d (+n for a Get, -n for a Put) that loads
// S == stPercpu does old := c[p].Add(d) - d on the cell p of its P and looks
// at old, the value it added to. Because the add is one atomic
// read-modify-write, old tells exactly which side of any concurrent swap of
// that cell the add fell on:
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
// # Per-CPU to atomic (toAtomicLocked), with the lock held
//
//  1. S |= stAtomic. From now on operations that load S go to C directly.
//     Operations that loaded S earlier may still add to cells; step 2
//     decides, per add, whether the add counts on the cell or is redone.
//  2. For every cell: sum += c[i].Swap(deadCell). After the swap the cell is
//     dead, and adds that land on it see so in their own result.
//  3. C.Add(sum - bias), one add. Before it, C still carries the bias.
//
// Why release cannot run early: release runs only in the operation whose
// add on C returns exactly 0. Until step 3, C - bias = L - Σ c[i], where L is
// the logical count (never below 0 without misuse). Each cell is kept within
// liveLimit (2^48, see Drift) and there are at most slots.MaxCells (2^10) of
// them, so |Σ c[i]| < 2^59 and C > bias - 2^59 = 3·2^59: C cannot reach 0.
// Nor can it overflow: C < bias + MaxCount + 2^59 < 2^63. After
// step 3 the bias is gone and every harvested add is in C, so C is the
// logical count itself; the add that takes it to 0 is the last Put.
//
// Why release runs once: a zero is reached by one add on C. A second zero
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
// Why no Get or Put is lost when the switch races them: see "The fast
// path". The one dead cell outlives the switch; late adds pile up on it,
// each at most MaxDelta and each from a goroutine that loaded S before step
// 1 (a goroutine that sees a dead cell redoes on C and reloads S next time),
// so the dead value moves by far less than the 2^60 that separates
// deadCell from deadBelow.
//
// # The ranges of C
//
// In atomic mode C is the count L, in [0, MaxCount] (2^60). In per-CPU mode
// C = bias + L - Σ c[i] with |Σ c[i]| < 2^59, so C is in (percpuLow,
// percpuHigh) = (bias - 2^59, bias + MaxCount + 2^59), which lies wholly
// above MaxCount. Every add on C returns its result v, and v says where C
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
// # Atomic to per-CPU (toPercpuLocked), with the lock held
//
//  1. C.Add(bias), but only if C is not 0 (a compare-and-swap loop): a
//     released Ref never goes per-CPU again without Reinit.
//  2. For every cell: c[i].Swap(0). Leftovers of late adds on the dead cell
//     are discarded here, which is right: those adds saw the dead cell in
//     their own result and redid themselves on C. There is no "undo" that
//     could land on the reopened cell.
//  3. S &^= stAtomic.
//
// Between steps 1 and 3, C carries the bias again, so operations on C
// (which still see atomic mode) cannot take it to 0 and cannot misjudge
// the count: their results are in the per-CPU range, which their checks
// accept (see "The ranges of C"). An add that loaded S == stPercpu before
// an earlier switch and lands only now, on a reopened cell, counts there:
// that is correct, since it was never counted anywhere else.
//
// # Drift
//
// In per-CPU mode a cell's value is the Gets minus the Puts made on it, so
// Gets on one P and Puts on another drive two cells apart without bound. An
// add whose old value is outside [-liveLimit, +liveLimit] but not dead
// takes the Ref's lock and, if the Ref is still per-CPU, moves the whole
// cell into C (v := c.Swap(0); C.Add(v)). With the lock held no switch
// runs, and the bias keeps C far from 0 while v is in flight. Reaching the
// limit takes 2^48 unmatched operations on one cell; it is there so that the
// argument has no "in practice".
//
// # TryGetLive
//
// Kill sets stDying and stAtomic, with the lock held, before it returns. A
// TryGetLive that starts after that loads S != stPercpu and takes the atomic
// path, which fails on stDying. One that loaded S earlier and adds to a cell
// now finds the cell dead (Kill harvested every cell before returning) and
// redoes itself on the atomic path, which fails too.
//
// # Memory order
//
// Every step above is a sync/atomic operation, and those are sequentially
// consistent in Go. The add that takes C to 0 reads from every earlier add
// on C and on the cells (through the swaps of step 2 and the add of step 3),
// so everything written before any Put happens before release runs.
//
// # The exclusive protocol (fastpath.UpdateLocal)
//
// A cell is written only by a goroutine running on its P, inside the
// assembly routine: the routine reads the P id from the runtime's g.m.p, and
// a goroutine is never preempted or moved inside assembly (no stack check;
// the runtime never stops a goroutine at an assembly instruction), so no
// other goroutine writes that cell until the routine returns, and an update
// needs no locked instruction. The generic twin pins with procPin instead.
// P ids above the last cell (GOMAXPROCS grew after the Ref was made) are
// refused and take the central count. The update, in assembly (UPDATE in
// update_amd64.h, which fastpath.UpdateLocal and, on amd64, Get and Put in
// fast_amd64.s share; atomic_arm64.s), with plain loads and stores:
//
//	v = c; c = v + busyMark
//	if S == stPercpu and v+d stays within ±CellLimit { c = v + d } else { c = v }
//
// and if it stored v (refused) the operation is redone on C, as a dead cell
// is in the shared protocol. The busy mark (2^60, far above any count) sits
// in the count word itself, so that cells can be dense 8-byte slots; a cell
// reads as busy while it holds more than CellLimit, and cells.Stable reads
// a cell by waiting until it does not. Per-CPU to atomic becomes:
//
//  1. S |= stAtomic (a sequentially consistent store).
//  2. fastpath.Quiesce: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), a full
//     barrier on every CPU running a thread of this process. Concurrent
//     switches (of any Refs) share one: Quiesce returns once a membarrier
//     that began after step 1 has ended, whichever goroutine made the
//     system call, and what it made visible to that goroutine is visible
//     to this one (the root package's quiesce.go argues it, with expedited
//     RCU's sequence counter; model/barrier.pml checks it). The argument
//     below needs no more: the barrier reaches each thread after step 1,
//     and what it made visible is visible to step 3.
//  3. sum = Σ Stable(c[i]); C.Add(sum - bias).
//
// Why no update is lost or counted twice: take an update U on some thread,
// with its busy store B and its load of S, L. The membarrier puts a full
// barrier into U's thread at some point X. If X precedes B, then L follows X,
// which follows step 1, so L sees stAtomic and U stores v back. If X follows
// B, B is visible when step 2 returns, so step 3 either sees the mark and
// waits, or sees the value U stored last (x86 keeps stores in order; arm64
// uses store-release for it), which holds U's delta if U counted. Either way
// U is counted exactly once: on its cell, or on C after it redoes itself. A
// refused update stores back the v it loaded, so after step 3 the cells keep
// the values that were summed, whatever stale updates still run. The one
// reordering that x86 allows here (L before B) and the several arm64 allows
// are the ones membarrier covers; the state load is a load-acquire on arm64
// so the final store stays after it. The generic twin of the update uses
// sequentially consistent atomics for every step, needs no barrier, and is
// what -race checks.
//
// Atomic to per-CPU cannot zero the cells: a refused update, stale or not,
// stores back the value it loaded, and would undo a zero stored from another
// CPU between its load and its store. Instead the cells keep their values,
// and C absorbs them: left = Σ Stable(c[i]), then C goes from v to
// v + bias - left (a compare-and-swap, only if v is not 0), then S loses
// stAtomic. Until S changes no update counts, so left is exact; afterwards
// the logical count is C - bias + Σ c[i], as in the shared protocol. Init
// does the same with a slot's leftovers. The bound on the bias argument
// holds because the update refuses to leave a cell outside ±CellLimit, which
// is liveLimit, so |left| <= slots.MaxCells · CellLimit = 2^58.
//
// # Slots and their reuse
//
// By default a Ref's cells are slots in package slots' arena: slot j of
// each P's slab. Neighbouring slots belong to other Refs but are written,
// in the fast path, only by the slab's P. A Ref gives its slot back when it
// switches to atomic mode for good (Kill without AllowReinit, Exit): it sets
// cells.Base to nil, which both updates refuse, and retires the slot. An
// update that read the old Base before that may still be running, so a
// retired slot becomes free only after a grace period: the next GC cycle
// that begins after the retirement. A GC cycle begins with a stop-the-world,
// which waits until every P reaches a safe point, and there is none inside
// the assembly update or inside fastpath.AddLocal's pinned window (from its
// state check to its add). The exclusive protocol would not even need the
// grace period, as a stale update there only stores back what it loaded; the
// shared protocol does, as its adds are permanent. A Ref that is dropped
// without Exit gives its slot back through runtime.AddCleanup: no update can
// be running on an unreachable Ref, since every update holds a pointer to
// it. A slot's next owner finds the counts the last one left and absorbs
// them (exclusive) or swaps them to 0 (shared).
//
// # Lazy Refs
//
// A Lazy Ref (the default: every Ref made without Eager or WithShards,
// until it spreads) is in per-CPU mode with no cells (Base nil): both updates
// refuse, and the operation counts on C, which carries the bias, as an
// operation from a P beyond the last cell does. It uses a compare-and-swap
// there, and only while C - bias is within ±lazyRange, so that it never
// counts on a C that a switch has since taken out of per-CPU mode (the
// central path is exact in both modes). A failed compare-and-swap means
// another goroutine changed C meanwhile: contention, and spread takes a
// slot under the lock. With the slot's State not Live nothing counts on it;
// spread settles its leftovers (C -= left, or swaps to 0), sets Last and Shift,
// and only then stores Base. Throughout, C - bias + Σ cells is the count:
// before the store the cells are not part of the Ref and C holds it all;
// after it, updates that see Base count on the cells, and those that loaded
// nil still count on C. The updates load Base before Last and Shift (an
// acquire on arm64), so none uses the cells with the wrong shape. On amd64,
// Get and Put make the same checks and the same compare-and-swap in
// assembly (LAZY in fast_amd64.s, where LOCATE finds no Base), and a failed
// swap goes to spread as lazy's does (getSpread, putSpread).
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
