package percpuref

import (
	"sync"

	"github.com/percpuref/percpu/internal/fastpath"
)

// KillAsync kills the Ref as Kill does, but returns without waiting for
// the switch of a Ref that has cells: the wait for the membarrier, the fold
// of the cells and the drop of the initial reference are left to a
// goroutine of this package, which does them for every Ref that KillAsync
// left it since it last ran, under one membarrier. A process that kills
// Refs with cells one at a time, at any rate, then pays for one membarrier
// per batch rather than one per Ref, and the goroutine that kills does not
// wait for it.
//
// When KillAsync returns the Ref is dying: every TryGetLive that starts
// afterwards fails, as after Kill. Get, Put and TryGet go on working, on the
// central count. What differs from Kill, for a Ref that had cells:
//
//   - The count becomes exact, and the initial reference is dropped, a
//     moment later. Until then no Put reaches zero: the Put that drops the
//     last of the other references returns false, and release runs in the
//     package's goroutine when it drops the initial reference. A Put that
//     comes after it behaves as after Kill.
//   - Every call that takes the Ref's lock waits until the switch is done,
//     and then sees it done: Init, Read, Done, Kill, KillAsync, the switches,
//     Resurrect, Reinit, Exit, a Put that takes a count to zero (its claim
//     of the release), a Lazy Ref's spread and misuse reports, on this Ref
//     and on the few other Refs whose lock is the same stripe (lock.go).
//     The wait is one membarrier and the folds of one batch once the
//     package's goroutine runs: microseconds where a CPU is free, up to a
//     scheduler time slice (about 10 to 20 ms) where the caller's goroutines
//     keep every P busy.
//   - Release and any misuse that the fold finds (a Put too many, reported
//     as Kill reports it) run in the package's goroutine: a panic there,
//     from release or from the default misuse handler, ends the program, as
//     a panic in any goroutine does. Use Done to wait for the release.
//   - That goroutine runs the releases of a batch one after another, as the
//     runtime runs finalizers: a release that waits for another Ref's
//     release (its Done, or a lock that the other's release takes) may wait
//     for one queued behind it, for good. A release that must wait should
//     start a goroutine to do it. A release that takes long delays the
//     releases after it in its batch, but no later fold.
//   - In a testing/synctest bubble, use Kill: the package's goroutine may
//     belong to another bubble, or none, and closing a Done channel made in
//     a bubble from outside it is fatal. KillAsync is safe in a bubble only
//     where no KillAsync runs outside it or in another bubble meanwhile.
//   - Under the percpurefdebug build tag, ReleaseSite names the package's
//     goroutine, not the KillAsync, for a Ref that it released.
//
// A Ref without cells (a Lazy Ref that never spread, one in atomic mode) has
// nothing to wait for: KillAsync kills it as Kill does, and if that drops
// the last reference, release runs inside KillAsync. A KillAsync that Kill
// would refuse is reported as Kill reports it (a Ref dying already is
// ErrKilled), in the calling goroutine.
//
// Everything the caller did before KillAsync happens before release runs,
// as for Kill.
func (r *Ref) KillAsync() {
	m := r.lock()
	if err := r.killRefusalLocked(r.cells.State.Load()); err != nil {
		r.unlockReport(m, err)
		return
	}
	// Deferred whenever the Ref is per-CPU with cells, in both protocols:
	// the fetchadd protocol's fold needs no membarrier, but KillAsync's
	// contract is the same in every build, and -race runs the folder too.
	// Otherwise there is nothing to wait for, and Kill's path serves.
	if r.cells.Len() > 0 && r.cells.State.Load()&stAtomic == 0 {
		r.markAtomicLocked(stDying) // step 1; the folder unlocks m (asyncKills)
		asyncKills.add(r, m)
		return
	}
	r.killHeldUnlock(m)
}

// asyncKills takes the Refs that KillAsync leaves switched to atomic mode
// (step 1 of toAtomicLocked, markAtomicLocked) with their lock held, and
// finishes their Kills in batches: one fastpath.Quiesce, then each Ref's
// steps 2 and 3 with the drop of its initial reference (foldDropLocked),
// the unlock of its lock, and only then the releases and misuse reports.
//
// Why each fold is exact: a Ref is added after its step 1, and the batch
// that holds it is taken from the queue after the add, under q.mu; the
// Quiesce follows the take, so it began after the Ref's step 1, which is
// all that step 2 asks of it (foldLocked), as for KillAll's batches. The
// lock is held from step 1 to step 3, by the killer and then by the folder
// (a sync.Mutex may be unlocked by a goroutine other than the one that
// locked it), so every path that takes the lock sees the Ref either before
// Kill or after the whole switch, as with Kill.
//
// Why nothing waits for good (lock.go's rule, kept across the hand-off):
//
//   - Every Ref in q.refs holds its lock, and is released only by a folder.
//     So q.refs is never left without one: add starts a folder when none is
//     taking batches (folding false), and a folder that finishes its folds
//     starts the next one if Refs came meanwhile, before it runs user code.
//   - A folder, from its take to its last unlock, waits for nothing but
//     q.mu, which is held only for a few appends and moves; the mutex by
//     which fastpath.Quiesce shares membarriers, held only for the system
//     call; and the arena's lock inside foldDropLocked. None of them is
//     held by a path that takes a Ref's lock. So a goroutine blocked on
//     the lock of a Ref in the queue, even a release that a folder runs,
//     goes on once the next folder has run. (Not so for a release that waits
//     for another release of its own batch: see KillAsync.)
//   - A Ref's lock is held by at most one entry: a second KillAsync of a Ref
//     on the same stripe waits in lock for the first to be folded. So the
//     queue, and a batch, hold at most refLockStripes Refs.
//
// model/killasync.pml checks the hand-off and the order of each Quiesce
// after its Refs' step 1, with a mutant for each (user code before the
// hand-on, a folder not started, the Quiesce before the take, the lock let
// go before the add), and shows the wait on a batchmate's release.
var asyncKills asyncQueue

// asyncQueue is the queue of Refs whose Kill a folder goroutine finishes.
type asyncQueue struct {
	mu      sync.Mutex
	refs    []asyncKill    // added since the last take, each with its lock held
	spare   []asyncKill    // a folded batch's slice, for the next take's adds
	folding bool           // a folder has been started and has not handed on
	running sync.WaitGroup // folders started and not returned, for tests
}

// asyncKill is a Ref whose step 1 is made, and the lock it holds.
type asyncKill struct {
	r *Ref
	m *sync.Mutex
}

// add queues r, holding m, and starts a folder if none is running.
func (q *asyncQueue) add(r *Ref, m *sync.Mutex) {
	q.mu.Lock()
	q.refs = append(q.refs, asyncKill{r, m})
	start := !q.folding
	q.folding = true
	q.mu.Unlock()
	if start {
		q.start()
	}
}

// start starts a folder.
func (q *asyncQueue) start() {
	q.running.Add(1)
	go q.fold()
}

// fold finishes the Kills of one batch: every Ref in the queue at its take.
// Unlike KillAll's, its batch is not bounded by killAllBatch: each Ref of
// the queue holds its lock from its KillAsync on, whether it is in this
// batch or waits for the next, so a smaller batch would keep no lock for
// less time; it would only make more membarriers. The stripes bound it.
func (q *asyncQueue) fold() {
	defer q.running.Done()
	if testHookAsyncFold != nil {
		testHookAsyncFold()
	}
	q.mu.Lock()
	batch := q.refs
	q.refs, q.spare = q.spare[:0], nil
	q.mu.Unlock()

	// Every Ref of the batch has cells, so each needs the Quiesce where the
	// exclusive protocol runs (needsQuiesce), and none where the fetchadd
	// protocol does. It began after every step 1 of the batch: see
	// asyncKills.
	if fastpath.Exclusive() {
		fastpath.Quiesce()
	}
	killed := make([]killedRef, len(batch))
	for i, a := range batch {
		killed[i].r = a.r
		a.r.foldDropLocked(&killed[i])
		a.m.Unlock()
	}
	clear(batch) // the slice is kept for reuse: it must not keep the Refs alive
	if testHookAsyncFolded != nil {
		testHookAsyncFolded()
	}

	q.mu.Lock()
	if q.spare == nil {
		q.spare = batch
	}
	next := len(q.refs) > 0
	q.folding = next
	q.mu.Unlock()
	if next {
		q.start()
	}
	finishKills(killed)
}

// testHookAsyncFold, if not nil, runs as a folder starts, before its take:
// a test holds the folds back with it.
var testHookAsyncFold func()

// testHookAsyncFolded, if not nil, runs once a folder has folded and
// unlocked its batch, before it looks for Refs added meanwhile: a test adds
// one there, which only the hand-on can fold.
var testHookAsyncFolded func()
