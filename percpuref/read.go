package percpuref

import (
	"github.com/percpuref/percpu/internal/cells"
	"github.com/percpuref/percpu/internal/fastpath"
)

// IsZero reports whether the count is zero. It is false in per-CPU mode,
// where the owner's initial reference is held, and false on a Ref whose
// count saturated. It is true once release has begun (even while it still
// runs, and after later misuse), on a Ref made with InitDead until Reinit,
// and on a zero Ref that was never set up, whose count is 0 (Read).
func (r *Ref) IsZero() bool {
	st := r.cells.State.Load()
	switch {
	case st&stInit == 0:
		return r.count.Load() == 0
	case st&stReleased != 0:
		return true
	}
	return st&(stAtomic|stPoisoned) == stAtomic && r.count.Load() == 0
}

// IsDying reports whether the Ref has been killed (or made with InitDead)
// and not brought back by Resurrect or Reinit.
func (r *Ref) IsDying() bool { return r.cells.State.Load()&stDying != 0 }

// IsPercpu reports whether the Ref is in per-CPU mode.
func (r *Ref) IsPercpu() bool { return r.cells.State.Load()&(stInit|stAtomic) == stInit }

// Read returns the count. In atomic mode it is exact; in per-CPU mode it is
// the sum of the cells and the central count, taken while other goroutines
// may move them, so it is exact only when no Get or Put runs concurrently.
// A count poisoned by misuse reads as 0 if the Ref was released (or never
// made live) and as MaxCount if it saturated.
func (r *Ref) Read() int64 {
	defer r.lock().Unlock()
	return r.countLocked()
}

func (r *Ref) countLocked() int64 {
	v := r.count.Load() // 0 in a Ref that was never set up
	if st := r.cells.State.Load(); st&stPoisoned != 0 {
		return shownCount(st, v)
	}

	if r.cells.State.Load()&(stInit|stAtomic) != stInit {
		return v
	}
	v -= bias
	for i := 0; i < r.cells.Len(); i++ {
		if fastpath.Exclusive() {
			v += cells.Stable(r.cells.Cell(i))
		} else {
			v += r.cells.Cell(i).Load()
		}
	}
	return v
}

// shownCount is the count a Ref in atomic state st with central count v
// shows: v, but for a count poisoned by misuse, 0 if the Ref was released
// (or never made live) and MaxCount otherwise (saturated, or an underflow
// found at a switch: the Ref leaks).
func shownCount(st uint32, v int64) int64 {
	switch {
	case st&stPoisoned == 0:
		return v
	case st&stReleased != 0:
		return 0
	}
	return MaxCount
}
