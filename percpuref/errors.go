package percpuref

import (
	"errors"
	"fmt"
)

// Sentinel errors for the misuses a Ref detects. A report is a *MisuseError
// that wraps one of them, so callers test with errors.Is.
var (
	// ErrUnderflow: more Puts than Gets. Detected at the Put in atomic mode,
	// and at the next switch to atomic mode for Puts made in per-CPU mode
	// (the folded count is zero or less while the initial reference should
	// still be held).
	ErrUnderflow = errors.New("reference count underflow")
	// ErrReleased: a Get on a count of zero (use after release), or a
	// Resurrect of a Ref that has already been released.
	ErrReleased = errors.New("use after release")
	// ErrKilled: Kill on a Ref that is already dying.
	ErrKilled = errors.New("Ref already killed")
	// ErrLive: Resurrect on a Ref that is not dying.
	ErrLive = errors.New("Ref is live")
	// ErrNotZero: Reinit while references are still held.
	ErrNotZero = errors.New("Reinit while references are held")
	// ErrNoReinit: going back to per-CPU mode after the shards were freed,
	// which happens at the first switch to atomic mode unless the Ref was
	// made with AllowReinit, InitAtomic or InitDead.
	ErrNoReinit = errors.New("per-CPU shards were freed (no AllowReinit)")
	// ErrExited: an operation on a Ref after Exit.
	ErrExited = errors.New("Ref used after Exit")
	// ErrUninitialized: an operation on a Ref that New or Init never set up.
	ErrUninitialized = errors.New("Ref used before Init")
	// ErrBadDelta: a *Many call with n <= 0 or n > MaxDelta.
	ErrBadDelta = errors.New("invalid reference delta")
	// ErrSaturated: the count would pass MaxCount; it is pinned instead.
	ErrSaturated = errors.New("reference count saturated")
)

// A MisuseError reports a misuse of a Ref: which operation, the count the
// Ref saw, and which rule was broken (one of the Err* sentinels, reachable
// with errors.Is or errors.Unwrap).
type MisuseError struct {
	Op    string // the method, such as "Put" or "Kill"
	Count int64  // the count when the misuse was detected (after the operation's own change, if it made one); for ErrBadDelta, the rejected n
	Err   error  // one of the Err* sentinels
}

func (e *MisuseError) Error() string {
	msg := fmt.Sprintf("percpuref: %s: %v (count %d)", e.Op, e.Err, e.Count)
	if site := e.ReleaseSite(); site != "" { // only with -tags percpurefdebug
		msg += "; Ref released at " + site
	}
	return msg
}

func (e *MisuseError) Unwrap() error { return e.Err }
