package percpuref

import (
	"runtime"
	"sync"

	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/internal/fastpath"
)

// toAtomicLocked sets bits and switches to atomic mode if the Ref is
// per-CPU, with the Ref's lock held. It returns the misuse found in the
// folded count, to be reported once the Ref's lock is released.
//
// The switch is three steps: (1) S gets stAtomic; (2) each cell is
// harvested; (3) one add moves the harvest into C and takes the bias out.
// Release runs only in the operation whose add on C returns exactly 0.
// Until step 3, C - bias = L - Σ c[i], where L is the logical count (never
// below 0 without misuse), so C stays in the per-CPU range and cannot reach
// 0 ("The ranges of C" in protocol.go). After step 3 the bias is gone and
// every harvested update is in C, so C is the logical count itself; the add
// that takes it to 0 is the last Put.
func (r *Ref) toAtomicLocked(op string, bits uint32) *MisuseError {
	if !r.markQuiescedLocked(bits) {
		return nil
	}
	_, err := r.foldLocked(op, 0)
	return err
}

// markQuiescedLocked is step 1 of the switch (markAtomicLocked) and, if the
// Ref was per-CPU, the wait for the updates that loaded S before it
// (fastpath.Quiesce, where needsQuiesce): all that must precede step 3's
// fold for one Ref. It reports whether the Ref was per-CPU, and so needs
// the fold. KillAll makes the same steps for a batch, with one wait.
func (r *Ref) markQuiescedLocked(bits uint32) bool {
	if !r.markAtomicLocked(bits) {
		return false
	}
	if r.needsQuiesce() {
		fastpath.Quiesce()
	}
	return true
}

// markAtomicLocked is step 1 of toAtomicLocked: it sets stAtomic and bits,
// and reports whether the Ref was per-CPU, and so needs steps 2 and 3
// (foldLocked). From now on operations that load S go to C directly.
// Operations that loaded S earlier may still update cells; step 2 decides,
// per update, whether it counts on the cell or is redone on C.
func (r *Ref) markAtomicLocked(bits uint32) bool {
	return r.cells.State.Or(stAtomic|bits)&stAtomic == 0
}

// needsQuiesce reports whether step 2 must wait for fastpath.Quiesce after
// markAtomicLocked: in the exclusive protocol, for a Ref with cells (a Lazy
// Ref without cells has no update to wait for).
func (r *Ref) needsQuiesce() bool {
	return fastpath.Exclusive() && r.cells.Len() > 0
}

// foldLocked is steps 2 and 3 of toAtomicLocked, after markAtomicLocked
// and, if needsQuiesce, after a fastpath.Quiesce that began after it. Step
// 3's add also takes away initial, 1 if the caller drops the initial
// reference in it (Kill without confirm, KillAll) and 0 otherwise. It
// returns the count after the add, and the misuse found in the folded count
// before the drop.
//
// When the fold is valid, one add for the fold and the drop is the same as
// the fold's add followed at once by the drop's, with the lock held
// throughout: an operation on C that would have come between them comes
// before or after the one add, and finds a count that the pair would have
// left at some point. The misuse at the fold still names the count before
// the drop. When the fold finds misuse, the pair made no drop; here C holds
// one less until poisonLocked stores the poison, so an operation on C in
// that moment (misuse itself: the count was already broken) may report a
// count one lower than it would have.
func (r *Ref) foldLocked(op string, initial int64) (int64, *MisuseError) {
	var sum int64
	if fastpath.Exclusive() {
		// Step 2, exclusive protocol: fastpath.Quiesce waits for a
		// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), a full barrier on
		// every CPU running a thread of this process. Concurrent switches
		// (of any Refs) share one: Quiesce returns once a membarrier that
		// began after step 1 has ended, whichever goroutine made the system
		// call, and what it made visible to that goroutine is visible to
		// this one (the root package's quiesce.go argues it, with expedited
		// RCU's sequence counter; model/barrier.pml checks it). The argument
		// below needs no more: the barrier reaches each thread after step
		// 1, and what it made visible is visible to step 3.
		//
		// Why no update is lost or counted twice: take an update U on some
		// thread, with its busy store B and its load of S, L. The
		// membarrier puts a full barrier into U's thread at some point X.
		// If X precedes B, then L follows X, which follows step 1, so L
		// sees stAtomic and U stores v back. If X follows B, B is visible
		// when Quiesce returns, so step 3 either sees the mark and waits,
		// or sees the value U stored last (x86 keeps stores in order; arm64
		// uses store-release for it), which holds U's delta if U counted.
		// Either way U is counted exactly once: on its cell, or on C after
		// it redoes itself. The one reordering that x86 allows here (L
		// before B) and the several arm64 allows are the ones membarrier
		// covers; the state load is a load-acquire on arm64 so the final
		// store stays after it. The generic twin of the update uses
		// sequentially consistent atomics for every step, needs no
		// barrier, and is what -race checks.
		//
		// (The caller made that Quiesce: toAtomicLocked, or KillAll, whose
		// one Quiesce began after the state stores of all its Refs.)
		//
		// Step 3's sum. A refused update stores back the v it loaded, so
		// the cells keep the values summed here, whatever stale updates
		// still run.
		for i := 0; i < r.cells.Len(); i++ {
			sum += cells.Stable(r.cells.Cell(i))
		}
	} else {
		// Step 2, fetchadd protocol: after the swap the cell is dead, and
		// adds that land on it see so in their own result (fetchAddOrLazy).
		// The dead cell outlives the switch; late adds pile up on it, each
		// at most MaxDelta and each from a goroutine that loaded S before
		// step 1 (a goroutine that sees a dead cell redoes on C and reloads
		// S next time), so the dead value moves by far less than the 2^60
		// that separates deadCell from deadBelow.
		for i := 0; i < r.cells.Len(); i++ {
			sum += r.cells.Cell(i).Swap(deadCell)
		}
	}
	// Step 3: one add. Before it C still carries the bias.
	v := r.count.Add(sum - bias - initial)
	if r.cells.Flags&optAllowReinit == 0 {
		r.freeCells()
	}
	switch folded := v + initial; {
	case folded <= 0:
		r.poisonLocked()
		return v, &MisuseError{Op: op, Count: folded, Err: ErrUnderflow}
	case folded > MaxCount:
		r.saturateLocked()
		return v, &MisuseError{Op: op, Count: folded, Err: ErrSaturated}
	}
	return v, nil
}

// toPercpuLocked switches an atomic Ref back to per-CPU mode, with the
// Ref's lock held. A Ref at zero or poisoned stays atomic.
//
// Between the add of the bias and the store of S, C carries the bias
// again, so operations on C (which still see atomic mode) cannot take it to
// 0 and cannot misjudge the count: their results are in the per-CPU range,
// which their checks accept ("The ranges of C" in protocol.go).
func (r *Ref) toPercpuLocked(op string) *MisuseError {
	if r.cells.Flags&optFreed != 0 {
		return &MisuseError{Op: op, Count: r.count.Load(), Err: ErrNoReinit}
	}
	if r.cells.State.Load()&stPoisoned != 0 {
		return nil
	}
	// In the exclusive protocol the cells keep what they hold, and C
	// absorbs it (settle says why): until S changes no update counts on
	// them, so left is exact, and afterwards the logical count is
	// C - bias + Σ c[i], as in the fetchadd protocol.
	var left int64
	if fastpath.Exclusive() {
		left = settle(&r.cells)
	}
	// C goes from v to v + bias - left, but only if v is not 0: a released
	// Ref never goes per-CPU again without Reinit.
	for {
		v := r.count.Load()
		if v == 0 {
			return nil
		}
		if r.count.CompareAndSwap(v, v+bias-left) {
			break
		}
	}
	// In the fetchadd protocol the cells are swapped to 0: leftovers of late
	// adds on the dead cells are discarded, which is right, since those
	// adds saw the dead cell in their own result and redid themselves on C.
	// There is no "undo" that could land on the reopened cell, and an add
	// that loaded S == stPercpu before an earlier switch and lands only now,
	// on a reopened cell, counts there: it was never counted anywhere else.
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

// Kill is KillAndConfirm(nil). Everything the caller did before Kill
// happens before release runs, as for Put.
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
//
// Everything the caller did before KillAndConfirm happens before release
// runs: in the terminology of the Go memory model, KillAndConfirm
// synchronizes before the start of release, as Put does.
func (r *Ref) KillAndConfirm(confirm func()) {
	m := r.lock()
	if err := r.killRefusalLocked(r.cells.State.Load()); err != nil {
		r.unlockReport(m, err)
		return
	}
	if confirm == nil {
		r.killHeldUnlock(m)
		return
	}
	err := r.toAtomicLocked("Kill", stDying)
	r.unlockReport(m, err)
	if err == nil { // a count poisoned at the fold keeps every reference
		defer r.dropInitial() // after confirm, even if confirm panics
	}
	if confirm != nil {
		confirm()
	}
}

// killRefusalLocked returns the misuse that a Kill of a Ref in state st
// is, with the Ref's lock held, or nil if Kill may go on: a Ref never set
// up or exited, one dying already (ErrKilled: no second reference is
// dropped), or one released without Kill or poisoned.
func (r *Ref) killRefusalLocked(st uint32) *MisuseError {
	switch {
	case st&(stInit|stExited) != stInit:
		err := ErrUninitialized
		if st&stExited != 0 {
			err = ErrExited
		}
		return &MisuseError{Op: "Kill", Count: shownCount(st, r.count.Load()), Err: err}
	case st&stDying != 0:
		return &MisuseError{Op: "Kill", Count: r.countLocked(), Err: ErrKilled}
	case st&(stReleased|stPoisoned) != 0:
		return r.releasedLocked("Kill", st)
	}
	return nil
}

// killHeld is a Kill without confirm, with the Ref's lock held: the
// switch of toAtomicLocked with stDying, and the drop of the initial
// reference in the same critical section, in step 3's add if the Ref was
// per-CPU (foldDropLocked), else alone (dropInitialHeld). The caller lets
// go of the lock and then calls k.finish.
func (r *Ref) killHeld(k *killedRef) {
	if !r.markQuiescedLocked(stDying) {
		r.dropInitialHeld(k)
		return
	}
	r.foldDropLocked(k)
}

// killHeldUnlock is killHeld, then the unlock of m, the Ref's lock, and
// then what the Kill left to do without it: Kill without confirm, and
// KillAsync of a Ref with nothing to wait for.
func (r *Ref) killHeldUnlock(m *sync.Mutex) {
	k := killedRef{r: r}
	r.killHeld(&k)
	m.Unlock()
	k.finish()
}

// foldDropLocked is steps 2 and 3 of the switch with the drop of the
// initial reference in step 3's add, for Kill and KillAll, with the Ref's
// lock held since step 1 (and a fastpath.Quiesce after it, if
// needsQuiesce). A count that the fold finds poisoned keeps every
// reference; a drop to zero claims the release, as in dropInitialHeld.
func (r *Ref) foldDropLocked(k *killedRef) {
	v, err := r.foldLocked("Kill", 1)
	switch {
	case err != nil:
		k.err = err
	case v == 0:
		k.claimLocked()
	}
}

// killedRef is what a Kill (or KillAll, for each Ref) has left to do once
// it has let go of the Ref's lock: run the release it claimed, or make a
// misuse report. The functions that fill one take a pointer to it rather
// than return it: a returned killedRef is copied with 16-byte loads of
// fields stored a moment before one word at a time, which store forwarding
// cannot serve, and that stall was a fifth of a default Ref's life
// (BenchmarkLifecycle).
type killedRef struct {
	r       *Ref
	release func()
	life    uint64
	claimed bool
	err     *MisuseError
}

// finish does what k records, without any lock of the Ref.
func (k *killedRef) finish() {
	switch {
	case k.claimed:
		k.r.runClaimed(k.release, k.life)
	case k.err != nil:
		k.r.send(k.err)
	}
}

// dropInitialHeld drops the initial reference for Kill and KillAll, with
// the Ref's lock held since the switch. If that was the last reference,
// the release is claimed (k.claimed) in the same critical section, which
// spares a Kill that releases a second round on the lock (runRelease's);
// the caller runs it, with k.finish, once it has let go of the lock.
// Nothing else can have claimed it: a claim takes the lock, and the Ref
// was neither released nor poisoned when Kill took it. A count below zero
// is a Put too many: it is poisoned here, under the same lock (so no Get
// or Put can find it unpoisoned and misjudge it), and recorded as err for
// the caller to report without the lock, as putChecked would.
func (r *Ref) dropInitialHeld(k *killedRef) {
	switch v := r.count.Add(-1); {
	case v < 0:
		r.poisonLocked()
		k.err = &MisuseError{Op: "Kill", Count: v + 1, Err: ErrUnderflow}
	case v == 0:
		k.claimLocked()
	}
}

// claimLocked claims the release for k's Ref, whose count a Kill's drop
// took to zero, with the Ref's lock held: nothing else can have claimed it
// (see dropInitialHeld), so the claim always succeeds here.
func (k *killedRef) claimLocked() {
	k.release, k.life, k.claimed = k.r.claimLocked()
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
// count is zero stays atomic until Reinit. If the cells were freed (no
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
// whose cells were freed reports ErrNoReinit; in each case nothing changes.
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
	r.cells.State.And(^uint32(stDying | stReleased | stPoisoned | stSaturated | stSlowReturn))
	var err *MisuseError
	if percpuNext {
		r.cellsLocked()
		err = r.toPercpuLocked(op)
	}
	r.unlockReport(m, err)
}

// Exit frees the per-CPU cells, folding them into the count first. The Ref
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
