// Package cells describes the per-P counters that a Ref or a Counter
// spreads its count over, and reads them. The updates that write them are
// in package fastpath; the memory they live in comes from package slots.
// Nothing here is exported outside the module: a Cells names raw memory,
// and a Cells made up by a caller could make an update write anywhere.
package cells

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Live is the value of Cells.State in which the updates count on the
// cells; in any other state they refuse and change nothing.
const Live = 1

// Limit bounds the value the single-writer update leaves in a cell: it
// refuses an update whose result would leave [-Limit, Limit], and the
// caller takes its slow path instead. Users of the cells rely on the bound
// to keep the sum of a few thousand cells far from overflow.
const Limit = 1 << 48

// BusyMark is what the single-writer update adds to a cell's count while it
// works on the cell: a cell holding more than Limit is busy (see Stable).
// The assembly spells it as a literal.
const BusyMark = 1 << 60

// Cells describes an array of per-P cells: Last+1 cells, 1<<Shift bytes
// apart, the first at Base. Each cell is one 64-bit count. The cells may be
// padded (a cache line each, Shift 7) or dense (slot i of several per-P
// slabs, each slab 1<<Shift bytes): package slots makes both. State gates
// the updates: they count only while it is Live.
//
// An owner may change Base while updates run, with an atomic store
// (SetBase): to nil, which the updates refuse, or, from nil, to cells whose
// Last and Shift it set before the store (the updates load Base first, with
// an acquire on arm64). No other field may change while updates may run.
// Cells that were given up (Base set to nil, State no longer Live) must not
// be made Live again with new cells while an update that loaded the old
// Base may still be running: it would count on the old cells. Only the P of
// a cell ever stores to it while updates may run; see Stable for reading.
//
// Cells is 16 bytes, so that a refcount can embed it (with State as its own
// state word, and Flags for bits of its own) and stay small. The assembly
// reads the fields at fixed offsets (Base 0, State 8, Last 12, Shift 14):
// keep their order.
type Cells struct {
	Base  *atomic.Int64
	State atomic.Uint32
	Last  uint16 // the highest P id with a cell of its own
	Shift uint8  // log2 of the distance between cells, in bytes
	Flags uint8  // the owner's; nothing here reads or writes it
}

// Len returns the number of cells, 0 if Base is nil.
func (c *Cells) Len() int {
	if c.LoadBase() == nil {
		return 0
	}
	return int(c.Last) + 1
}

// Cell returns cell i, for i in [0, Len()).
func (c *Cells) Cell(i int) *atomic.Int64 {
	return At(c.LoadBase(), i, c.Shift)
}

// SetBase stores b into Base atomically, as an owner must while updates may
// run (see Cells).
func (c *Cells) SetBase(b *atomic.Int64) {
	atomic.StorePointer((*unsafe.Pointer)(unsafe.Pointer(&c.Base)), unsafe.Pointer(b))
}

// LoadBase loads Base atomically: an owner may change it (with SetBase)
// while updates run.
func (c *Cells) LoadBase() unsafe.Pointer {
	return atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&c.Base)))
}

// At returns cell p of cells 1<<shift bytes apart from base.
func At(base unsafe.Pointer, p int, shift uint8) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Add(base, uintptr(p)<<shift))
}

// Stable returns the count of a cell that the single-writer update writes.
// While an update is at work on the cell, the cell holds a busy mark (the
// count plus BusyMark); Stable waits, yielding, until the update has
// finished, and returns the count it left. Use it, not Load, to read such a
// cell; a cell that only the atomic add updates may be read with Load.
func Stable(cell *atomic.Int64) int64 {
	for {
		if v := cell.Load(); v <= Limit {
			return v
		}
		runtime.Gosched()
	}
}
