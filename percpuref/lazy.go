package percpuref

import (
	"github.com/percpuref/percpu/internal/cells"
)

// lazy counts d on C for a Ref in per-CPU mode that has no cells yet
// (Lazy: every Ref made without Eager or WithShards, until it spreads), and
// takes its cells at the first sign of contention: a compare-and-swap that
// fails because another goroutine changed C meanwhile. It reports whether
// it counted d; false sends the caller to the central path, which is exact
// in either mode. With no cells (Base nil) both updates refuse, and the
// operation counts on C, which carries the bias, as an operation from a P
// beyond the last cell does. Only a C that carries the bias is counted on
// (within ±lazyRange of it): if a switch to atomic mode has run since the
// caller loaded the state, C no longer does.
func (r *Ref) lazy(d int64) bool {
	if r.cells.Len() != 0 {
		return false // the cells refused for another reason
	}
	v := r.count.Load()
	if uint64(v+d-bias+lazyRange) > 2*lazyRange {
		return false // the central path checks the range and reports
	}
	if r.count.CompareAndSwap(v, v+d) {
		return true
	}
	r.spread()
	return false
}

// lazyRange bounds the logical count that lazy leaves on C: far below
// MaxCount and far above any count a program holds, and within the per-CPU
// range of C (percpuLow is bias - lazyRange), so that lazy never takes C out
// of it unreported.
const lazyRange = 1 << 59

// spread gives a Lazy Ref its cells, if it is still per-CPU and without
// them. The cells' leftovers are settled before they are published, so that
// C - bias + Σ cells stays the count throughout: before the store of Base
// the cells are not part of the Ref and C holds it all; after it, updates
// that see Base count on the cells, and those that loaded nil still count
// on C (operations that counted on C meanwhile stay there). The updates load
// Base before Last and Shift (an acquire on arm64), so none uses the cells
// with the wrong shape. On amd64, Get and Put make lazy's checks and its
// compare-and-swap in assembly (LAZY in fast_amd64.s, where LOCATE finds no
// Base), and a failed swap goes to spread as lazy's does (getSpread,
// putSpread).
func (r *Ref) spread() {
	defer r.lock().Unlock()
	if r.cells.State.Load() != stPercpu || r.cells.Base != nil || r.cells.Flags&optFreed != 0 {
		return
	}
	var fresh cells.Cells // State is not Live: nothing counts on it
	r.takeSlot(&fresh)
	r.count.Add(-settle(&fresh))
	r.cells.Last, r.cells.Shift = fresh.Last, fresh.Shift
	r.cells.SetBase(fresh.Base) // from now on the fast path counts on the cells
}
