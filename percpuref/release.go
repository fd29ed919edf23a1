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
	if r.cells.State.Load()&stReleased != 0 && r.cells.Flags&(optRunning|optFreshDead) == 0 {
		return closedDone // this life's release has returned
	}
	x = r.extraLocked(true)
	x.done = make(chan struct{})
	return x.done
}
