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

// Cells describes an array of per-P cells for AddLocal and UpdateLocal: Mask+1
// cells (a power of two), CacheLinePad bytes apart, the first of whose counts
// is at Base. Each cell holds its count in its first 8 bytes and, for
// UpdateLocal, a busy flag (a uint32) in the next 4. UpdateLocal stores only
// while *State == Want. The assembly reads the fields at fixed offsets: keep
// their order.
type Cells struct {
	Base  *atomic.Int64
	Mask  int
	State *atomic.Uint32
	Want  uint32
}

// AddLocal adds delta to the cell of the calling goroutine's P, picked as
// Hint()&c.Mask, and returns the value the cell had before the add. Any
// number of goroutines may call AddLocal on the same cells at once: the add is
// one atomic read-modify-write.
func AddLocal(c *Cells, delta int64) (old int64) {
	p := procPin()
	procUnpin()
	return cell(c.Base, p&c.Mask).Add(delta) - delta
}

// Busy returns the busy flag of the cell whose count is c (see UpdateLocal).
func Busy(c *atomic.Int64) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Add(unsafe.Pointer(c), 8))
}

// exclusive and fastPath are chosen once, at start, and never change.
var exclusive, fastPath = choosePath(os.Getenv("PERCPU_FASTPATH"))

// Exclusive reports whether the single-writer protocol (UpdateLocal and
// Quiesce) is the fast path in this process. It is chosen once, at start,
// and does not change: true where the assembly routines, the membarrier
// system call and the runtime layout the assembly reads (see atomic_asm.go)
// are all available, false otherwise, in which case users of the cells
// should use AddLocal, whose atomic add needs no Quiesce. The environment
// variable PERCPU_FASTPATH=shared forces false; PERCPU_FASTPATH=exclusive
// forces true where Quiesce can work without membarrier (the generic build,
// whose UpdateLocal uses sequentially consistent atomics throughout).
func Exclusive() bool { return exclusive }

// FastPath names the fast path in use, for benchmarks and tools to print:
// "exclusive/asm+membarrier", "exclusive/generic" or "shared/generic".
func FastPath() string { return fastPath }

func choosePath(env string) (bool, string) {
	switch {
	case env == "shared":
	case asmPath && barrierReady() && directReady():
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
