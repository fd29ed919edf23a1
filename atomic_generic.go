//go:build !(amd64 || arm64) || purego || race

package percpu

import "sync/atomic"

// asmPath is false: this build uses the Go twins of the assembly routines,
// as every GOARCH without them does, and the purego and race builds (the race
// detector cannot see inside assembly).
const asmPath = false

// updateExclusive is the generic twin of the assembly routine (see
// UpdateLocal). Every step is a sequentially consistent atomic, so it needs
// no Quiesce, and the race detector can check the protocol built on it.
func updateExclusive(c *atomic.Int64, state *atomic.Uint32, want uint32, delta int64) bool {
	busy := Busy(c)
	busy.Store(1)
	ok := false
	if state.Load() == want {
		if n := c.Load() + delta; uint64(n+CellLimit) <= 2*CellLimit {
			c.Store(n)
			ok = true
		}
	}
	busy.Store(0)
	return ok
}

// UpdateLocal is the single-writer update of the cells c describes. On the P
// p that the calling goroutine runs on, and if p <= c.Mask, UpdateLocal
//
//	sets the busy flag of cell p,
//	loads *c.State, and if it is c.Want
//	  and count+delta stays within [-CellLimit, CellLimit],
//	  stores count+delta with a plain (not locked) write,
//	clears the busy flag,
//
// without being preempted or moved to another P, and reports whether it
// stored. Only a goroutine running on P p writes cell p, so the plain write
// loses nothing. A writer that changes *c.State (away from c.Want), then
// calls Quiesce, then waits for every busy flag to read 0, knows that every
// UpdateLocal either stored before its flag cleared or will see the new
// *c.State and store nothing. UpdateLocal refuses a nil c, and may refuse
// every update where Exclusive() is false.
//
// This is the generic twin of the assembly routine: it pins the goroutine to
// its P with procPin, so that no other goroutine runs there.
func UpdateLocal(c *Cells, delta int64) bool {
	if c == nil {
		return false
	}
	p := procPin()
	ok := p <= c.Mask && updateExclusive(cell(c.Base, p), c.State, c.Want, delta)
	procUnpin()
	return ok
}

func barrierReady() bool { return false }

// pid is the generic twin of the assembly pid: the P id, by procPin.
func pid() int { return Hint() }

// directReady: the generic build reads the P id with procPin, no layout.
func directReady() bool { return true }

func barrier() {}
