package percpuref

import (
	"sync"
	"sync/atomic"
)

func (r *Ref) report(op string, count int64, err error) {
	r.send(&MisuseError{Op: op, Count: count, Err: err})
}

// send delivers e to the Ref's misuse handler, or else the process's (see
// SetMisuseHandler), or else panics with it.
func (r *Ref) send(e *MisuseError) {
	var h func(error)
	m := r.lock()
	if x := r.extraLocked(false); x != nil {
		h = x.onMisuse
	}
	m.Unlock()
	if h == nil {
		if p := defaultMisuseHandler.Load(); p != nil {
			h = *p
		}
	}
	debugMisuse(r, e, h != nil)
	if h != nil {
		h(e)
		return
	}
	panic(e)
}

// defaultMisuseHandler is SetMisuseHandler's handler, or nil.
var defaultMisuseHandler atomic.Pointer[func(error)]

// SetMisuseHandler makes every Ref that has no WithMisuseHandler of its own
// report misuse to h instead of panicking, or, with nil, panic again. One
// handler so serves any number of Refs at no cost per Ref (WithMisuseHandler
// takes a record per Ref). It may be called at any time, from any
// goroutine; a report uses the handler set when it is made.
func SetMisuseHandler(h func(error)) {
	if h == nil {
		defaultMisuseHandler.Store(nil)
		return
	}
	defaultMisuseHandler.Store(&h)
}

// unusable reports the misuse of a Get (get) or a Put of op on a Ref in
// state st, which usable refused.
func (r *Ref) unusable(op string, st uint32, get bool) {
	switch {
	case st&(stInit|stExited) != stInit:
		err := ErrUninitialized
		if st&stExited != 0 {
			err = ErrExited
		}
		r.report(op, shownCount(st, r.count.Load()), err)
	default:
		r.useAfterRelease(op, get)
	}
}

// useAfterRelease reports op, a Get (get) or a Put, on a released Ref, and
// poisons the count if no earlier misuse did. It takes the Ref's lock, so
// that of several such operations at once exactly one finds the count
// unpoisoned and names it; the rest report Poisoned.
// model/misuse.pml checks with spin that each is reported exactly once.
func (r *Ref) useAfterRelease(op string, get bool) {
	m := r.lock()
	st := r.cells.State.Load()
	var e *MisuseError
	switch {
	case st&stReleased == 0:
		// Reinit began a new life since the caller loaded the state. This
		// operation is not ordered after that Reinit, so it belongs to the
		// released life: report it, and leave the new life alone.
		e = &MisuseError{Op: op, Err: ErrReleased}
	case st&stPoisoned != 0:
		e = &MisuseError{Op: op, Err: r.poisonCauseLocked(st, get), Poisoned: true}
	default:
		e = &MisuseError{Op: op, Count: r.count.Load(), Err: ErrUnderflow}
		if get {
			e.Err = r.zeroCauseLocked()
		}
		r.poisonLocked()
	}
	m.Unlock()
	r.send(e)
}

// corrupt reports a misuse that broke the count, which the operation found
// at count, and poisons the Ref so that it can never reach zero again: a
// leak instead of a wrong release.
func (r *Ref) corrupt(op string, count int64, err error) {
	m := r.lock()
	r.poisonLocked()
	m.Unlock()
	r.report(op, count, err)
}

// poisonLocked pins the count at poison, far below zero; the state bit says
// so first, so that whoever sees the poisoned count sees the bit. The Ref's
// lock must be held: a Reinit must not come between the two stores and
// leave a poisoned count without the bit. A count that is poisoned already
// is left alone: an operation that found it poisoned may have added to it
// and not yet undone its add, and a second store of poison would erase
// that add, leaving the undo to take the count one off poison for good
// (model/misuse.pml, MUTANT_REPOISON).
func (r *Ref) poisonLocked() {
	if r.cells.State.Or(stPoisoned)&stPoisoned == 0 {
		r.count.Store(poison)
	}
}

// saturateLocked poisons a count that passed MaxCount, saying so.
func (r *Ref) saturateLocked() {
	r.cells.State.Or(stSaturated)
	r.poisonLocked()
}

// zeroCauseLocked is why a Get on a count of zero is misuse: the Ref was
// released, or it was made with InitDead and never made live.
func (r *Ref) zeroCauseLocked() error {
	if r.cells.Flags&optFreshDead != 0 {
		return ErrNeverLive
	}
	return ErrReleased
}

// reportPoisoned reports op, a Get (get) or a Put, on a poisoned count,
// with the cause of the poisoning: the Ref was released (or never made
// live), or its count saturated.
func (r *Ref) reportPoisoned(op string, get bool) {
	m := r.lock()
	err := r.poisonCauseLocked(r.cells.State.Load(), get)
	m.Unlock()
	r.send(&MisuseError{Op: op, Err: err, Poisoned: true})
}

// poisonCauseLocked is the cause that a report on a count poisoned in state
// st names: the saturation; or, on a Ref that was not released, the
// underflow found at a switch; or, on a released one, the release (for a
// Get or a control operation: zeroCause) or the underflow (for a Put).
func (r *Ref) poisonCauseLocked(st uint32, get bool) error {
	switch {
	case st&stSaturated != 0:
		return ErrSaturated
	case st&stReleased == 0 || !get:
		return ErrUnderflow
	}
	return r.zeroCauseLocked()
}

// outOfRange handles a central add of op whose result v is in neither
// range of C ("The ranges of C" in protocol.go); found is the count the
// operation found (v less its delta). v just past MaxCount is a saturated
// atomic count; v below percpuLow a per-CPU count that more Puts than Gets
// took below zero, and v above percpuHigh a saturated per-CPU one. Either
// is misuse, whichever mode the Ref is in now: it poisons the count and is
// reported, unless a racing operation poisoned it first, when this one is
// reported as an operation on a poisoned count. In per-CPU mode the cells
// are folded into C first, so that the report names the count.
func (r *Ref) outOfRange(op string, get bool, found, v int64) {
	cause := ErrSaturated
	if v > gapMid && v < percpuLow {
		cause = ErrUnderflow
	}
	m := r.lock()
	st := r.cells.State.Load()
	if st&stPoisoned != 0 {
		m.Unlock()
		r.reportPoisoned(op, get)
		return
	}
	if st&stAtomic == 0 {
		// The fold poisons and names the count if it finds it out of range;
		// if operations since this one brought it back, the misuse stands.
		if err := r.toAtomicLocked(op, 0); err != nil {
			r.unlockReport(m, err)
			return
		}
		found = r.count.Load()
	}
	if cause == ErrSaturated {
		r.saturateLocked()
	} else {
		r.poisonLocked()
	}
	r.unlockReport(m, &MisuseError{Op: op, Count: found, Err: cause})
}

// releasedLocked is the misuse of op, a control operation that needs a
// live count, on a Ref in state st that was released or poisoned.
func (r *Ref) releasedLocked(op string, st uint32) *MisuseError {
	if st&stPoisoned != 0 {
		return &MisuseError{Op: op, Err: r.poisonCauseLocked(st, true), Poisoned: true}
	}
	return &MisuseError{Op: op, Count: r.count.Load(), Err: r.zeroCauseLocked()}
}

// unlockReport releases m, the Ref's lock, and reports err, if any.
func (r *Ref) unlockReport(m *sync.Mutex, err *MisuseError) {
	m.Unlock()
	if err != nil {
		r.send(err)
	}
}
