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

func barrierReady() bool { return false }

func barrier() {}
