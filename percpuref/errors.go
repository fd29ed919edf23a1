package percpuref

import (
	"errors"
	"fmt"
)

// Sentinel errors for the misuses a Ref (or a Shared's Lease) detects. A
// report is a *MisuseError that wraps one of them, so callers test with
// errors.Is.
var (
	// ErrUnderflow: more Puts than Gets. Detected at the Put in atomic mode,
	// and at the next switch to atomic mode for Puts made in per-CPU mode
	// (the folded count is zero or less while the initial reference should
	// still be held).
	ErrUnderflow = errors.New("reference count underflow")
	// ErrReleased: a Get on a count of zero (use after release), a Put
	// that took a released count to zero again, or a Kill or Resurrect of
	// a Ref that has already been released.
	ErrReleased = errors.New("use after release")
	// ErrNeverLive: a Get or Resurrect on a Ref made with InitDead that no
	// Reinit has made live yet: nothing was released, nothing is held.
	ErrNeverLive = errors.New("Ref made dead and never made live")
	// ErrKilled: Kill on a Ref that is already dying.
	ErrKilled = errors.New("Ref already killed")
	// ErrLive: Resurrect on a Ref that is not dying, or Init on a Ref that
	// is live (neither released nor exited).
	ErrLive = errors.New("Ref is live")
	// ErrNotZero: Reinit while references are still held.
	ErrNotZero = errors.New("Reinit while references are held")
	// ErrNoReinit: going back to per-CPU mode after the cells were freed,
	// which happens at the first switch to atomic mode unless the Ref was
	// made with AllowReinit, InitAtomic or InitDead.
	ErrNoReinit = errors.New("per-CPU cells were freed (no AllowReinit)")
	// ErrExited: an operation on a Ref after Exit.
	ErrExited = errors.New("Ref used after Exit")
	// ErrUninitialized: an operation on a Ref that New or Init never set up.
	ErrUninitialized = errors.New("Ref used before Init")
	// ErrBadDelta: a *Many call with n <= 0 or n > MaxDelta.
	ErrBadDelta = errors.New("invalid reference delta")
	// ErrSaturated: the count would pass MaxCount; it is pinned instead.
	ErrSaturated = errors.New("reference count saturated")
	// ErrLeaseReleased: a Release of a Shared's Lease that was already
	// released, through the same variable or a copy. Reported by that
	// Release (Op "Lease.Release"), which changes nothing.
	ErrLeaseReleased = errors.New("Lease already released")
)

// A MisuseError reports a misuse of a Ref: which operation, the count the
// operation found, and which rule was broken (one of the Err* sentinels,
// reachable with errors.Is or errors.Unwrap).
type MisuseError struct {
	Op    string // the method, such as "Put" or "Kill"
	Count int64  // the count the operation found, before its own change; for ErrBadDelta, the rejected n; 0 when Poisoned
	Err   error  // one of the Err* sentinels: the cause
	// Poisoned: an earlier misuse poisoned the count, so there is no count
	// to report; Err is that misuse's cause (ErrReleased or ErrNeverLive
	// for a Get and ErrUnderflow for a Put on a released Ref, ErrSaturated
	// on a saturated one). The operation changed nothing.
	Poisoned bool
}

func (e *MisuseError) Error() string {
	var msg string
	switch {
	case e.Poisoned:
		msg = fmt.Sprintf("percpuref: %s: %v (count poisoned by an earlier misuse)", e.Op, e.Err)
	case errors.Is(e.Err, ErrBadDelta):
		msg = fmt.Sprintf("percpuref: %s: %v (n %d)", e.Op, e.Err, e.Count)
	default:
		msg = fmt.Sprintf("percpuref: %s: %v (count %d)", e.Op, e.Err, e.Count)
	}
	if site := e.ReleaseSite(); site != "" { // only with -tags percpurefdebug
		msg += "; Ref released at " + site
	}
	return msg
}

func (e *MisuseError) Unwrap() error { return e.Err }
