package percpuref

import (
	"slices"
)

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

// runRelease runs release for the add of op that took the count to zero,
// at most once per life of the Ref, and then wakes the life's Done waiters.
//
// Done's channel is made only for a caller of Done, so that a release that
// nobody waits for allocates nothing. Each life's waiters must wake exactly
// when that life's release returns, though Done may be called before the
// release, while it runs or after it, and a new life may begin (Reinit, or
// Init) while it runs, from inside it or from another goroutine, and may
// itself be released while the old release still runs. The argument: every
// step below takes the Ref's lock, except the return's fast path, an
// atomic step on the state word S that the others make atomic steps on too.
//
//   - The claim (stReleased) sets stRunning and reads the life's number,
//     n: 0, or the orphans' count if the Ref has one. stRunning is cleared
//     only by the same life's return, or by endLifeLocked when the life
//     ends while its release runs (Init's store of a fresh state, which
//     clears every bit, comes after endLifeLocked under the same lock);
//     endLifeLocked then adds 1 to the number,
//     which never goes down (Init keeps the orphans record), and moves the
//     life's channel, if Done made one, to the orphans list under n.
//   - The claim also sets stSlowReturn if the life has a Done channel or
//     the Ref has an orphans record, and Done, when it finds stRunning set,
//     sets it before it makes a channel, with an Or whose old value says
//     whether stRunning was still set.
//   - The return's fast path clears stRunning, without the lock, in a
//     compare-and-swap that requires stRunning set and stSlowReturn clear,
//     and does nothing else. It can succeed only for the current life with
//     no channel to close: for a channel made before the claim, the claim
//     set stSlowReturn; for one made after it, Done set stSlowReturn first,
//     while stRunning was still set (else Done saw the release returned,
//     and made none). And an orphaned release cannot clear a later life's
//     stRunning: its life's end cleared stRunning and made the orphans
//     record, so every later claim sets stSlowReturn, which Reinit (or
//     Init) clears only when that life ends in turn; a compare-and-swap
//     from the value the orphaned release loaded, without stSlowReturn,
//     then fails.
//   - Otherwise the return takes the lock and finds the number still n
//     exactly when its life is the current one: no life ended since its
//     claim, since a life that ends while its release runs bumps the
//     number, and a later life can end only after this one did. It then
//     clears stRunning and closes the life's channel, if Done made one
//     (before the return or during the release). Otherwise its life was
//     orphaned, and it closes the channel filed under n, if any; it touches
//     nothing of the current life, which may be running a release of its own.
//   - Done returns the current life's channel if there is one; else, if
//     the life's release was claimed and stRunning is clear (in the Or's
//     old value, if it made one), that release has returned (the claim sets
//     both in one step; only the return or the life's end clears
//     stRunning, and the end starts a life that has not claimed), so it
//     returns the closed closedDone; else it makes the channel, which the
//     life's return closes as above.
//
// A release that panics never returns: its life's channel stays open, and a
// later Reinit orphans the life as if its release still ran. model/done.pml
// checks this argument with spin, and done_test.go forces its interleavings.
func (r *Ref) runRelease(op string) bool {
	m := r.lock()
	release, life, ok := r.claimLocked()
	m.Unlock()
	if !ok {
		// A second zero: a Get on the released count (reported, and about
		// to poison it) was matched by this Put before the poison landed.
		// This Put is misuse too.
		r.corrupt(op, 1, ErrReleased)
		return false
	}
	r.runClaimed(release, life)
	return true
}

// claimLocked claims the current life's release, with the Ref's lock held,
// and returns the release to run and the life's number, for runClaimed; ok
// is false, and nothing changes, if the release was claimed already. The
// claim is one atomic step on the state word: stReleased and stRunning,
// and stSlowReturn if the life has a Done channel or the Ref has orphaned
// lives, which the release's return must see to (see runRelease).
func (r *Ref) claimLocked() (release func(), life uint64, ok bool) {
	claim := uint32(stReleased | stRunning)
	if x := r.extraLocked(false); x != nil && (x.done != nil || x.orph != nil) {
		claim |= stSlowReturn
	}
	for {
		st := r.cells.State.Load()
		if st&stReleased != 0 {
			return nil, 0, false
		}
		if r.cells.State.CompareAndSwap(st, st|claim) {
			return r.releaseLocked(), r.lifeLocked(), true
		}
	}
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
	for {
		st := r.cells.State.Load()
		if st&(stRunning|stSlowReturn) != stRunning {
			break
		}
		if r.cells.State.CompareAndSwap(st, st&^stRunning) {
			return
		}
	}
	m := r.lock()
	var done chan struct{}
	if x := r.extraLocked(false); r.lifeLocked() == life {
		r.cells.State.And(^uint32(stRunning))
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

// testHookDone, set only by tests, runs in Done between its load of a state
// with stRunning set and its Or of stSlowReturn, with the Ref's lock held.
var testHookDone func()

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
	// A release that is not running cannot start without the lock; one that
	// runs may return, without it, until the And.
	if r.cells.State.Load()&stRunning != 0 && r.cells.State.And(^uint32(stRunning))&stRunning != 0 {
		x = r.extraLocked(true)
		if x.orph == nil {
			x.orph = new(orphans)
		}
		if x.done != nil {
			x.orph.list = append(x.orph.list, orphan{x.orph.life, x.done})
		}
		x.orph.life++
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

// Done returns a channel that is closed when release has returned. Within
// one life of the Ref every call returns the same channel, if the first was
// made before release returned; after release has returned Done may return
// a closed channel that other Refs share. After Reinit, Done returns the new
// life's channel, which closes when the new life's release returns, even if
// the old life's release still runs. The channel is made by the first call
// that needs one: a Ref whose Done is never called allocates none.
//
// The return of release happens before the channel is closed: a receive
// from it that completes happens after everything release did, and so
// after everything each holder did before its Put and the owner before
// Kill (see Put).
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
	st := r.cells.State.Load()
	if st&stRunning != 0 {
		if testHookDone != nil {
			testHookDone()
		}
		// The release may return at any moment, without the lock: from the
		// Or on, it takes the lock and closes the channel made below, unless
		// it had returned already.
		st = r.cells.State.Or(stSlowReturn)
	}
	if st&(stReleased|stRunning) == stReleased && r.cells.Flags&optFreshDead == 0 {
		return closedDone // this life's release has returned
	}
	x = r.extraLocked(true)
	x.done = make(chan struct{})
	return x.done
}
