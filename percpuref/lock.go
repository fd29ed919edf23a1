package percpuref

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/percpuref/percpu"
)

// The Ref's lock serialises its mode changes (Kill, the switches, Resurrect,
// Reinit, Exit), the claim of its release, Read and Done, and guards
// cells.Flags and hook. It is not a field of the Ref: a Ref's lock is the
// stripe of refLocks that its address hashes to, which keeps the Ref at 32
// bytes. This is exact because
//
//   - a Ref's address is fixed while other goroutines can reach it: Go does
//     not move heap objects, and a Ref on a goroutine's stack (which may
//     move) is reachable only from that goroutine; lock returns the mutex it
//     took, so the unlock matches it even if the stack moved in between;
//   - two Refs on one stripe only serialise more than they must, and that
//     cannot deadlock: no path but KillAll takes a Ref's lock while it holds
//     one (of this Ref or another), and KillAll takes the stripes it needs
//     in ascending order, all before it waits for anything; no path runs
//     user code (release, confirm, a misuse handler) with one held, or
//     waits with one held for anything that takes one. The arena's lock
//     (internal/slots), taken inside, never takes a Ref's.
//   - KillAsync returns with its Ref's lock still held, and a folder
//     goroutine unlocks it after the fold. That holder is no goroutine, and
//     the folder that lets go of it needs no Ref's lock to get there
//     (killasync.go argues it), so a goroutine that waits for it, whatever
//     it holds, goes on once that folder has run.
//
// The stripes are as many as make a collision between two Refs' mode
// changes rare, each padded as a shard is (percpu.CacheLinePad).
var refLocks [refLockStripes]struct {
	sync.Mutex
	_ [refLockPad]byte
}

const (
	refLockBits    = 8
	refLockStripes = 1 << refLockBits
	refLockPad     = percpu.CacheLinePad - unsafe.Sizeof(sync.Mutex{})%percpu.CacheLinePad
)

// refLockShift is 64 - refLockBits; a test sets it to 64, which puts every
// Ref on stripe 0, to show that sharing a lock is safe.
var refLockShift atomic.Uint32

func init() { refLockShift.Store(64 - refLockBits) }

// lock takes r's lock and returns it, for the caller to unlock.
func (r *Ref) lock() *sync.Mutex {
	// A nil r must fault here, before the lock is taken: a caller's own
	// dereference would come with the stripe held, and a recovered panic
	// would leave it held for good, hanging every Ref on that stripe.
	r.cells.State.Load()
	m := &refLocks[r.stripe()].Mutex
	m.Lock()
	return m
}

// stripe returns the index in refLocks of r's lock.
func (r *Ref) stripe() uint64 {
	// Fibonacci hashing: the top bits of the address times 2^64/φ.
	return uint64(uintptr(unsafe.Pointer(r))) * 0x9E3779B97F4A7C15 >> refLockShift.Load()
}
