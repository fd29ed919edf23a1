//go:build (amd64 || arm64) && !purego && !race

package percpu

import (
	"runtime"
	"sync/atomic"

	_ "unsafe" // for go:linkname

	"github.com/percpuref/percpu/internal/cells"
)

// asmPath is true: updateLocal and updateExclusive are in
// atomic_$GOARCH.s, and quiesce is the membarrier system call where the
// kernel has it.
const asmPath = true

// updateLocal is the single-writer update; fastpath.UpdateLocal states
// its contract.
//
// The assembly (atomic_$GOARCH.s; on amd64 its instructions are in
// update_amd64.h, which percpuref's Get and Put share) reads the P id from the
// runtime's own structures (g.m.p.id) instead of calling procPin and
// procUnpin, which cost more than the update itself. That is sound because
// a NOSPLIT assembly function is never preempted, neither cooperatively (it
// has no stack check) nor asynchronously (the runtime never stops a goroutine
// inside assembly: isAsyncSafePoint in runtime/preempt.go), so the goroutine
// stays on its P, and no other goroutine runs there, from the P id load to
// the last store. Where the runtime layout is unknown (mOffP is 0) the
// assembly jumps to updatePinned, which finds the P with procPin.
//
//go:linkname updateLocal github.com/percpuref/percpu.updateLocal
//go:noescape
func updateLocal(c *cells.Cells, delta int64) bool

// updateExclusive is the same update on a given cell c, for tests of its
// rules; the caller must keep other writers away from c.
//
//go:noescape
func updateExclusive(c *atomic.Int64, state *atomic.Uint32, delta int64) bool

// pid returns g.m.p.id read as updateLocal reads it, or -1 if the layout is
// unknown or the P found there does not point back to the M (p.m).
func pid() int

// Offsets in the runtime's structures, read by the assembly: m.p and p.m,
// from runtimeLayout. mOffP 0 means unknown: the assembly then takes the P
// id from procPin instead (updatePinned).
var (
	mOffP uintptr // offset of m.p
	pOffM uintptr // offset of p.m
)

// directReady sets the offsets for this Go release, if the table knows it,
// and checks them: with the goroutine pinned by procPin, pid (which also
// checks the P's back-pointer to its M) must agree with procPin's P id, on
// several Ps. It returns "" when the offsets are set, and otherwise why not,
// leaving them unknown.
func directReady() string {
	rel := release(runtime.Version())
	off, ok := layoutTable[rel]
	if !ok {
		if rel == "" {
			rel = runtime.Version()
		}
		return "runtime layout of " + rel + " unknown"
	}
	mOffP, pOffM = off[0], off[1]
	for i := 0; i < 16; i++ {
		p := procPin()
		q := pid()
		procUnpin()
		if p != q {
			mOffP, pOffM = 0, 0
			return "runtime layout of " + rel + " failed its check"
		}
		runtime.Gosched()
	}
	return ""
}

// pidRefuses reports whether pid returns -1 for want of the layout.
func pidRefuses() bool { return mOffP == 0 }

// buildReason returns "": this build has the assembly.
func buildReason() string { return "" }
