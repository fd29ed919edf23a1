package percpuref

import (
	"github.com/percpuref/percpu/internal/cells"
)

// lazyRange bounds the logical count that a Lazy Ref's compare-and-swap
// (fetchAddOrLazy) leaves on C: far below MaxCount and far above any count a
// program holds, and within the per-CPU range of C (percpuLow is bias -
// lazyRange), so that it never takes C out of that range unreported.
const lazyRange = 1 << 59

// spread gives a Lazy Ref its cells, if it is still per-CPU and without
// them. The cells' leftovers are settled before they are published, so that
// C - bias + Σ cells stays the count throughout: before the store of Base
// the cells are not part of the Ref and C holds it all; after it, updates
// that see Base count on the cells, and those that loaded nil still count
// on C (operations that counted on C meanwhile stay there). The updates load
// Base before Last and Shift (an acquire on arm64), so none uses the cells
// with the wrong shape. On amd64, Get and Put make fetchAddOrLazy's checks
// and its compare-and-swap in assembly (LAZY in fast_amd64.s, where LOCATE
// finds no Base), and a failed swap goes to spread as fetchAddOrLazy's does
// (getSpread, putSpread). model/lazy.pml checks the compare-and-swap's
// range check, the settling and the state check here against Kill, each
// with a mutant that breaks it.
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
