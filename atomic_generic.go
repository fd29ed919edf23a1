//go:build !(amd64 || arm64) || purego || race

package percpu

import (
	"runtime"
	"sync/atomic"

	_ "unsafe" // for go:linkname

	"github.com/percpuref/percpu/internal/cells"
)

// asmPath is false: this build uses the Go twins of the assembly routines,
// as every GOARCH without them does, and the purego and race builds (the race
// detector cannot see inside assembly).
const asmPath = false

// updateExclusive is the generic twin of the assembly routine (see
// updateLocal). Every step is a sequentially consistent atomic, so it needs
// no Quiesce, and the race detector can check the protocol built on it.
func updateExclusive(c *atomic.Int64, state *atomic.Uint32, delta int64) bool {
	v := c.Load()
	c.Store(v + cells.BusyMark)
	if state.Load() == cells.Live {
		if n := v + delta; uint64(n+cells.Limit) <= 2*cells.Limit {
			c.Store(n)
			return true
		}
	}
	c.Store(v)
	return false
}

// updateLocal is the single-writer update (fastpath.UpdateLocal states its
// contract). This is the generic twin of the assembly routine: it pins the
// goroutine to its P with procPin, so that no other goroutine runs there.
//
//go:linkname updateLocal github.com/percpuref/percpu.updateLocal
func updateLocal(c *cells.Cells, delta int64) bool { return updatePinned(c, delta) }

// buildReason says why this build has no assembly fast path.
func buildReason() string {
	switch {
	case raceBuild:
		return "race build"
	case runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64":
		return "purego build"
	}
	return "no assembly for GOARCH=" + runtime.GOARCH
}

// barrierStatus: the generic protocol needs no membarrier (see Quiesce).
func barrierStatus() string { return "" }

// pid is the generic twin of the assembly pid: the P id, by procPin.
func pid() int { return Hint() }

// directReady: the generic build reads the P id with procPin, no layout.
func directReady() string { return "" }

func barrier() {}

// noLayoutTag: the generic build reads no runtime layout, so the
// percpunolayout tag changes nothing here.
const noLayoutTag = false

// pidRefuses: the generic pid always answers.
func pidRefuses() bool { return false }
