package percpu

import (
	"sync"
	"sync/atomic"
	_ "unsafe" // for go:linkname
)

// Sharing membarriers between concurrent callers of quiesce.
//
// A switch to atomic mode in the exclusive protocol (toAtomicLocked in
// percpuref/switch.go) stores its new state, then needs a full barrier
// on every CPU that runs a thread of the process, then reads the cells. All
// it needs of the barrier is that it begins after the caller's state store
// and ends before the caller reads the cells; it need not be a barrier of
// its own. So goroutines killing Refs at once can be served by one
// membarrier, as concurrent synchronize_rcu_expedited() callers are by one
// expedited grace period, and the same sequence counter decides when a
// barrier serves a caller (kernel/rcu/rcu.h: rcu_seq_snap, rcu_seq_done):
//
//   - seq is even while no barrier runs, odd while one does. One goroutine
//     at a time runs a barrier, holding mu; it increments seq before the
//     system call and again after it, so each barrier moves seq by two.
//   - a caller, after its state store, takes a snapshot
//     snap = (seq + 3) &^ 1: if seq is even, the value seq has when the
//     next barrier ends (seq + 2); if seq is odd, when the barrier after the
//     one in progress ends (seq + 3), since the one in progress may have
//     begun before the store.
//   - it then takes mu and, unless seq has reached snap meanwhile (a barrier
//     another goroutine began after the snapshot has ended), runs a barrier
//     itself, which takes seq to snap or beyond: under mu, seq is even and at
//     least snap - 2.
//
// Why a barrier that takes seq to snap serves the caller. Let B be that
// barrier: it ends with seq == snap, and its first increment took seq from
// snap-2 to snap-1. The snapshot load read at most snap-2 (wrapping aside),
// a value earlier in seq's modification order than snap-1, so in the single
// total order of Go's (sequentially consistent) atomics it comes before B's
// first increment:
//
//	caller: state store        ->  caller: snapshot load of seq  [program order]
//	caller: snapshot load      ->  B's leader: seq++ (odd)       [reads before]
//	B's leader: seq++ (odd)    ->  membarrier's smp_mb() on entry [program order]
//	smp_mb() on entry          ->  the barrier on each CPU, by IPI, or before
//	                               the thread next runs there     [membarrier]
//
// So each CPU's barrier in B follows the state store, as if the caller had
// made the system call itself right after its store. On the way out:
//
//	each CPU's barrier  ->  smp_mb() on exit  ->  B's leader: seq++ (== snap)
//	    ->  the caller's load of seq, reading snap or later  ->  its cell reads
//
// A later value of seq was written by later increments, read-modify-writes
// that continue B's release sequence, so the caller's load synchronizes with
// B's last increment either way: everything the membarrier made visible to
// B's leader is visible to the caller, which reads the cells as that leader
// could have. On amd64 each atomic is a locked instruction or an ordered
// load; on arm64 the read-modify-writes are acquire-release (LDADDAL, or an
// LDAXR/STLXR loop), the loads are LDAR, a store-release is ordered before a
// later load-acquire, and ARMv8 is other-multi-copy-atomic.
//
// Two changes would break this, and model/barrier.pml's mutants show that
// they do: a snapshot that accepts the barrier in progress (rounding up to
// its end, or not at all), since that barrier's IPI may reach an updating
// CPU before the state store; and a leader that moves seq only after the
// system call (by two), which makes a barrier in progress look like none to
// the snapshot.
//
// seq moves by two per barrier and does not wrap in the life of a process,
// but seqDone compares as the kernel's ULONG_CMP_GE does anyway.
type coalescedBarrier struct {
	seq atomic.Uint64 // twice the barriers completed; odd while one runs
	mu  sync.Mutex    // held by the goroutine running a barrier
	run func()        // the barrier itself
}

// snap returns the value seq has once a barrier that began after this call
// (and so after every store the caller made before it) has ended:
// rcu_seq_snap.
func (s *coalescedBarrier) snap() uint64 {
	return (s.seq.Load() + 3) &^ 1
}

// seqDone reports whether seq has reached snap: rcu_seq_done.
func seqDone(seq, snap uint64) bool { return int64(seq-snap) >= 0 }

// waitFor returns once seq has reached snap, running a barrier itself
// unless another goroutine's barrier has taken it there meanwhile.
func (s *coalescedBarrier) waitFor(snap uint64) {
	s.mu.Lock()
	// Another leader may have run the barrier we need while we waited
	// for mu: it began after our snapshot, so after our state store.
	if !seqDone(s.seq.Load(), snap) {
		s.seq.Add(1) // odd: a barrier begins; snapshots from here on need the next one
		s.run()
		s.seq.Add(1) // even: it has ended, and seq >= snap
	}
	s.mu.Unlock()
}

// wait is a full barrier on every CPU, beginning after the caller's earlier
// stores and ending before it returns, shared with concurrent callers.
func (s *coalescedBarrier) wait() { s.waitFor(s.snap()) }

// barriers returns how many barriers have completed.
func (s *coalescedBarrier) barriers() uint64 { return s.seq.Load() / 2 }

// theBarrier is the process's membarrier, shared by every quiesce.
var theBarrier = coalescedBarrier{run: barrier}

// barriers returns how many membarriers quiesce has issued in this process
// (0 in the generic build, whose quiesce makes none); fastpath.Barriers
// reads it, for the benchmarks that count barriers per Kill.
//
//go:linkname barriers github.com/percpuref/percpu.barriers
func barriers() uint64 { return theBarrier.barriers() }
