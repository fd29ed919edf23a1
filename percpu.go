package percpu

import (
	"os"
	"sync/atomic"
	"unsafe"
)

// CacheLinePad is the size, in bytes, that a shard is padded to so that no
// two shards share a cache line. It is 128 rather than the usual 64 because
// Intel's adjacent-line prefetcher pulls cache lines in pairs, and 128 is the
// line size of Apple's arm64 cores; padding to 128 is safe everywhere.
const CacheLinePad = 128

// CellLimit bounds the value UpdateLocal leaves in a cell: it refuses an
// update whose result would leave [-CellLimit, CellLimit], and the caller
// takes its slow path instead. Users of the cells rely on the bound to keep
// the sum of a few thousand cells far from overflow.
const CellLimit = 1 << 48

// procPin pins the calling goroutine to its P and returns the P's id: until
// procUnpin the goroutine is neither preempted nor moved. The runtime keeps
// both reachable by linkname (go.dev/issue/67401).
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// Hint returns the id of the P (the runtime's logical processor) that the
// calling goroutine ran on a moment ago. P ids are dense in
// [0, GOMAXPROCS), so the hint is a good shard index, but the goroutine may
// move to another P at any instant: callers must stay correct whatever
// shard the hint picks, and use it only to make contention unlikely.
func Hint() int {
	p := procPin()
	procUnpin()
	return p
}

// cell returns the cell with index i in an array of CacheLinePad-byte cells
// that starts at base.
func cell(base *atomic.Int64, i int) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Add(unsafe.Pointer(base), i*CacheLinePad))
}

// AddLocal adds delta to the cell of the calling goroutine's P in an array
// of cells that starts at base, each CacheLinePad bytes long, mask+1 of them
// (mask+1 a power of two), and returns the value the cell had before the
// add. The cell is picked as Hint()&mask; any number of goroutines may call
// AddLocal on the same array at once: the add is one atomic
// read-modify-write.
func AddLocal(base *atomic.Int64, mask int, delta int64) (old int64) {
	p := procPin()
	procUnpin()
	return cell(base, p&mask).Add(delta) - delta
}

// UpdateLocal is the single-writer update. Each cell of the array at base
// (laid out as for AddLocal) holds a count in its first 8 bytes and a busy
// flag (a uint32) in the next 4. With the calling goroutine pinned to its P
// p, and if p <= mask, UpdateLocal
//
//	sets the busy flag of cell p,
//	loads *state, and if it is want
//	  and count+delta stays within [-CellLimit, CellLimit],
//	  stores count+delta with a plain (not locked) write,
//	clears the busy flag,
//
// and reports whether it stored. Only the goroutine pinned on P p writes cell
// p, so the plain write loses nothing. A writer that changes *state (away
// from want) and then calls Quiesce, and then waits for every busy flag to
// read 0, knows that every UpdateLocal either stored before its flag cleared
// or will see the new *state and store nothing.
func UpdateLocal(base *atomic.Int64, mask int, state *atomic.Uint32, want uint32, delta int64) bool {
	p := procPin()
	ok := p <= mask && updateExclusive(cell(base, p), state, want, delta)
	procUnpin()
	return ok
}

// Busy returns the busy flag of the cell whose count is c (see UpdateLocal).
func Busy(c *atomic.Int64) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Add(unsafe.Pointer(c), 8))
}

// Exclusive reports whether the single-writer protocol (UpdateLocal and
// Quiesce) is the fast path in this process. It is chosen once, at start:
// true where the assembly routines and the membarrier system call are both
// available, false otherwise, in which case users of the cells should use
// AddLocal, whose atomic add needs no Quiesce. The environment variable
// PERCPU_FASTPATH=shared forces false; PERCPU_FASTPATH=exclusive forces true
// where Quiesce can work without membarrier (the generic build, whose
// UpdateLocal uses sequentially consistent atomics throughout).
var Exclusive bool

// FastPath names the fast path in use, for benchmarks and tools to print:
// "exclusive/asm+membarrier", "exclusive/generic" or "shared/generic".
var FastPath string

func init() {
	Exclusive, FastPath = choosePath(os.Getenv("PERCPU_FASTPATH"))
}

func choosePath(env string) (bool, string) {
	switch {
	case env == "shared":
	case asmPath && barrierReady():
		return true, "exclusive/asm+membarrier"
	case !asmPath && env == "exclusive":
		return true, "exclusive/generic"
	}
	return false, "shared/generic"
}

// Quiesce makes every store made before it visible to every goroutine's next
// load, and every store made by a running goroutine before its current
// instruction visible to loads that follow Quiesce. With the assembly fast
// path it is the membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) system call,
// a few hundred nanoseconds; in the generic build, whose UpdateLocal is made
// of sequentially consistent atomics, it does nothing.
func Quiesce() {
	if asmPath {
		barrier()
	}
}
