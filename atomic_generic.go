package percpu

import (
	"sync/atomic"
	"unsafe"
)

// CacheLinePad is the size, in bytes, that a shard is padded to so that no
// two shards share a cache line. It is 128 rather than the usual 64 because
// Intel's adjacent-line prefetcher pulls cache lines in pairs, and 128 is the
// line size of Apple's arm64 cores; padding to 128 is safe everywhere.
const CacheLinePad = 128

// procPin pins the calling goroutine to its P and returns the P's id; the
// runtime keeps it reachable by linkname (go.dev/issue/67401).
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

// Add atomically adds delta to *addr and returns the new value. It is the
// shard update: any number of goroutines may call it on the same word at
// once.
func Add(addr *atomic.Int64, delta int64) int64 {
	return addr.Add(delta)
}

// AddLocal adds delta to the cell of the calling goroutine's P in an array
// of cells that starts at base, each CacheLinePad bytes long, mask+1 of them
// (mask+1 a power of two), and returns the value the cell had before the
// add. The cell is picked as Hint()&mask; any number of goroutines may call
// AddLocal on the same array at once.
func AddLocal(base *atomic.Int64, mask int, delta int64) (old int64) {
	p := procPin()
	procUnpin()
	c := (*atomic.Int64)(unsafe.Add(unsafe.Pointer(base), (p&mask)*CacheLinePad))
	return c.Add(delta) - delta
}

// FastPath names the implementation of the primitives in this build.
// Benchmarks and tools print it so that results can be attributed.
const FastPath = "generic"
