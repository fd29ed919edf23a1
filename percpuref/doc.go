// Package percpuref provides Ref, a reference count that stays cheap when
// many goroutines on many cores take and drop references at once, and that
// becomes an exact, kref-precise count when its owner kills it. It is
// Linux's percpu_ref (lib/percpu-refcount.c) with Go names and kref's
// release rules.
//
//	obj.ref.Init(obj.free)      // count 1: the owner's reference
//	obj.ref.Get()               // before handing obj to another goroutine
//	go func() { defer obj.ref.Put(); use(obj) }()
//	...
//	obj.ref.Kill()              // end of life: drop the owner's reference
//	                            // obj.free runs when the last Put returns
//
// # Modes
//
// A live Ref is in per-CPU mode: Get and Put count on a cell of the
// caller's P (its own cache line), and Put never releases, because the
// owner still holds the initial reference. Kill marks the Ref dying and
// switches it to atomic mode: the cells are folded into one central count,
// the initial reference is dropped, and from then on the Ref is a kref: the
// Put that takes the count to zero runs release, once, in that goroutine.
// SwitchToAtomic and InitAtomic give atomic mode without dying; Resurrect
// and Reinit bring a Ref back. A Ref takes its cells when it needs them:
// until two goroutines first collide on it, it counts on its central word
// with compare-and-swap, as an atomic.Int64 would (Lazy, the default; Eager
// takes the cells at New).
//
// # The two fast-path protocols
//
// A process uses one of two protocols for the cells, chosen at start
// (percpu.FastPath names it). In the exclusive protocol (the assembly path,
// on linux/amd64 and linux/arm64 with membarrier) each cell has one writer,
// the goroutine running on its P, which updates it with plain loads and
// stores, marking it busy meanwhile; a switch to atomic mode stores the
// mode, issues membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), and then reads
// each cell once it is not busy: an update either finished before the read
// or saw the new mode and changed nothing. The membarrier is the costly part
// of a Kill (microseconds); concurrent Kills share one, KillAll shares one
// among a batch of Refs, and KillAsync returns before it, leaving it to a
// goroutine that shares one among every Ref killed meanwhile.
//
// In the fetchadd protocol (the generic path: -tags purego, -race, other
// architectures, no membarrier) each update is an atomic fetch-and-add whose returned
// old value says whether the cell was live; a switch swaps every cell to a
// dead sentinel and folds the sum into the central count in one add, and an
// add that lands on a dead cell redoes itself on the central count.
//
// # Where the argument lives
//
// The invariants that hold across both protocols (the ranges of the
// central count, why release runs once, memory order) are the doc of the
// constants in protocol.go (go doc -u ./percpuref bias); each step's own
// reasoning is in the function that takes it (toAtomicLocked,
// toPercpuLocked, exclusive, fetchAddOrLazy, spread, settle, freeCells,
// runRelease). The Promela models in the repository's model/ check the
// steps with spin. The contract, the table of every misuse and how it is
// reported (a *MisuseError, by default a panic) is docs/semantics.md.
package percpuref
