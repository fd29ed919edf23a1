package percpuref

import (
	"sync"
)

// usable reports whether state st allows a counting operation on the
// central count: the Ref was set up, has not exited and was not released
// (or made with InitDead). Small enough to inline, and one mask and compare
// as in the assembly; unusable reports.
//
// A released Ref's operations leave the count alone: if each added to it
// and looked at what it found, as the first misuse after release does, a
// second Get that came before the first one's poison landed would find a
// count of 1 and pass unreported. Once stReleased is set (under the lock,
// before release runs), every Get and Put sees it and reports under the
// lock instead. The count can still be seen at 1 only in the window between
// the last Put's add and its claim of the release, by a Get that races
// both (docs/semantics.md, "A released Ref stays released").
func usable(st uint32) bool { return st&(stInit|stExited|stReleased) == stInit }

// getCentral counts a Get of n on the central count. The checks that
// follow the add are out of line, to keep this path short.
func (r *Ref) getCentral(op string, n int64) {
	if st := r.cells.State.Load(); !usable(st) {
		r.unusable(op, st, true)
		return
	}
	if v := r.count.Add(n); v-n <= 0 || v > MaxCount {
		r.getChecked(op, n, v)
	}
}

// getChecked handles a central Get of n whose result v is out of the
// ordinary: the count it found was poisoned by an earlier misuse, or zero
// (use after release); or v is past MaxCount, as C is in per-CPU mode
// (valid), or out of both modes' ranges (saturation, or an underflow in
// per-CPU mode: see "The ranges of C" in protocol.go).
func (r *Ref) getChecked(op string, n, v int64) {
	switch found := v - n; {
	case found < poisonZone:
		r.count.Add(-n) // a poisoned count never moves: undo
		r.reportPoisoned(op, true)
	case found <= 0:
		m := r.lock()
		r.poisonLocked()
		err := r.zeroCauseLocked()
		m.Unlock()
		r.report(op, found, err)
	case !biased(v):
		r.outOfRange(op, true, found, v)
	}
}

// putCentral counts a Put of n on the central count and runs release if it
// took the count to zero.
func (r *Ref) putCentral(op string, n int64) bool {
	if st := r.cells.State.Load(); !usable(st) {
		r.unusable(op, st, false)
		return false
	}
	if v := r.count.Add(-n); !atomicValid(v) {
		return r.putChecked(op, n, v)
	}
	return false
}

// atomicValid reports whether v, the result of a central Put, is a count
// that atomic mode allows after a Put, [1, MaxCount], in one compare.
// Anything else is zero (release), misuse, or C in per-CPU mode, which
// putChecked tells apart.
func atomicValid(v int64) bool { return uint64(v-1) < MaxCount }

// putChecked handles a central Put of n whose result v is not in [1,
// MaxCount]: zero (release); below it, an underflow or a count poisoned by
// an earlier misuse; or above it, C in per-CPU mode (valid, or out of
// range: see "The ranges of C" in protocol.go).
func (r *Ref) putChecked(op string, n, v int64) bool {
	switch {
	case v == 0:
		if testHookZero != nil {
			testHookZero()
		}
		return r.runRelease(op)
	case v+n < poisonZone:
		r.count.Add(n) // a poisoned count never moves: undo
		r.reportPoisoned(op, false)
	case v < 0:
		r.corrupt(op, v+n, ErrUnderflow)
	case !biased(v):
		r.outOfRange(op, false, v+n, v)
	}
	return false
}

// testHookZero, set only by tests, runs between the add that took the
// count to zero and runRelease: the window that a concurrent Reinit must
// respect.
var testHookZero func()

// putLockedCentral is putCentral for PutLocked: as kref_put_mutex, it
// decrements without mu while this cannot be the last reference, and takes
// mu for the decrement that may be, so that release runs with mu held.
func (r *Ref) putLockedCentral(op string, n int64, mu sync.Locker) bool {
	if st := r.cells.State.Load(); !usable(st) {
		r.unusable(op, st, false)
		return false
	}
	for {
		v := r.count.Load()
		if v <= 0 || v > MaxCount && !biased(v) {
			// Released, poisoned or out of range: no release can follow,
			// so mu is not needed to report the misuse.
			return r.putCentral(op, n)
		}
		if v <= n {
			break
		}
		if r.count.CompareAndSwap(v, v-n) {
			return false
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return r.putCentral(op, n)
}

// tryGetCentral counts a TryGet of n (TryGetLive if live) on the central
// count, unless the count is zero (or poisoned, or the Ref dying for
// TryGetLive), and reports whether it did.
//
// Why no TryGetLive succeeds once Kill has returned: Kill sets stDying and
// stAtomic, with the lock held, before it returns. A TryGetLive that starts
// after that loads S != stPercpu and comes here, where it fails on
// stDying. One that loaded S earlier and updates a cell now finds the cell
// dead, or is refused (Kill's switch harvested every cell before
// returning), and redoes itself here, where it fails too.
func (r *Ref) tryGetCentral(op string, n int64, live bool) bool {
	st := r.cells.State.Load()
	if st&(stReleased|stExited) == stReleased {
		return false // released (or InitDead): a try that fails, not misuse
	}
	if !usable(st) {
		r.unusable(op, st, true)
		return false
	}
	if live && st&stDying != 0 {
		return false
	}
	for {
		v := r.count.Load()
		if v <= 0 || v > MaxCount && !biased(v) {
			// Zero, or poisoned (released or saturated), or out of range
			// (the operation that took it there reports).
			return false
		}
		if r.count.CompareAndSwap(v, v+n) {
			if v+n > MaxCount && !biased(v+n) {
				r.outOfRange(op, true, v, v+n)
			}
			return true
		}
	}
}
