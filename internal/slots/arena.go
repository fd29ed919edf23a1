package slots

import (
	"runtime"
	"runtime/metrics"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/percpuref/percpu"
)

// The slot arena gives each refcount one 8-byte slot in every P's slab, the
// way the kernel's per-CPU allocator gives each percpu_ref one counter in
// every CPU's chunk. A chunk holds procs slabs of n slots, one slab per P,
// each slab 8n bytes, a power of two of at least a cache-line pair, and
// aligned to it:
//
//	chunk: | slab 0: slot 0, slot 1, ... slot n-1 | slab 1: ... | slab procs-1 |
//
// Slot j of the chunk is one owner's: its cell for P p is slot j of slab p,
// at base + p<<shift, which is how cells.Cells addresses cells. Neighbours
// in a slab belong to different owners but are written (in the fast path)
// only by that slab's P, so a slab's lines stay in its P's cache.
//
// Chunks are never freed; their slots are recycled. An owner that stops
// using its slot retires it (RetireSlot). A retired slot may still be touched
// by an update that began before the owner switched away from it, so it
// becomes free only after a grace period: a garbage collection cycle that
// started after the retirement. Every GC cycle begins with a stop-the-world,
// which waits for every P to reach a safe point, and neither the assembly
// update nor the pinned window of fastpath.AddLocal contains one; so once such
// a cycle has begun, no update that saw the owner's cells as live can still
// be running. The arena stamps a retired slot with a number of completed GC
// cycles n (runtime/metrics) read at or after its retirement, and frees it
// once n+2 have completed: cycle n+1 may have begun before the retirement,
// cycle n+2 began after n+1 ended. It checks when it would otherwise hand
// out a new slot. (A cleanup on a sentinel object would be simpler, but in
// go1.26 a cleanup queued on a P that a GOMAXPROCS decrease removes is held
// back until GOMAXPROCS grows again, perhaps never; one held-back sentinel
// would strand every slot retired after it.) An owner that became
// unreachable without retiring its slot (runtime.AddCleanup calls DropSlot)
// cannot have an update in progress, as every update holds a pointer to its
// owner, so its slot is free at once.
//
// The caller of TakeSlot registers that cleanup; for an owner that takes
// its slot with TakeOwnedSlot the arena registers it after the next GC
// cycle, unless the owner has retired its slot by then (see "Deferred
// watches" in watch.go). A registered cleanup runs one day whether or not
// the owner retired its slot, perhaps long after the slot has passed to
// other owners, and in any order relative to their cleanups; its argument
// is the slot's base, which names the slot but not the ownership. So each chunk counts, for each of its
// slots j, the retirements of slot j whose owners' cleanups have not run
// yet (chunk.pending[j]). RetireSlot adds one for an owner whose cleanup is
// registered; DropSlot takes one off if there is one, and frees the slot
// only if there is none. See DropSlot for why that frees a slot only when
// its current owner retired it or is unreachable.
//
// The arena never clears a slot: a new owner finds whatever counts the last
// one left and must account for them itself (percpuref absorbs them into its
// central count with cells.Stable, or swaps them to 0 in the fetchadd
// protocol). Clearing from another P could race with a stale refused update,
// which restores the value it loaded with a plain store.

// minSlabSlots and maxSlabSlots bound the slots of a chunk's slabs: chunks
// double in size from the smaller to the larger, so that a process with few
// refcounts pays little and one with many allocates rarely. The larger
// bounds the slots a process pays for and does not use, at most one chunk's
// worth: at 64 Ps and 100,000 refcounts, 1.7 bytes per refcount at 1024
// slots, where 4096 left 12.
const (
	minSlabSlots = 16   // 128 bytes per slab: one pair of 64-byte lines
	maxSlabSlots = 1024 // 8 KiB per slab
)

type chunk struct {
	mem   []int64 // the allocation; slab 0 starts at mem[off]
	off   int
	base  uintptr // address of slot 0 in slab 0
	procs int     // slabs
	slots int     // slots per slab
	shift uint8   // log2(8 * slots)
	used  int     // slots handed out at least once
	pool  *pool   // the pool of the chunk's procs

	// pending[j] counts the retirements of slot j whose owners' cleanups
	// (DropSlot) have not run yet: one counter per slot, not per slab.
	// RetireSlot allocates it at the chunk's first retirement; until then
	// (nil) every counter is 0, and a chunk none of whose slots has been
	// retired costs its slabs only; after it, 8 bytes more per slot.
	pending []uint64

	// unwatched[j] is 1 + the index in arena.record of slot j's owner, or
	// 0 if the owner is not on the record (watch.go). TakeOwnedSlot
	// allocates it, 4 bytes per slot, at the chunk's first such take.
	unwatched []int32
}

func (c *chunk) slot(j int) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Pointer(&c.mem[c.off+j]))
}

// index returns j for base, slot j of the chunk.
func (c *chunk) index(base *atomic.Int64) int {
	return int(uintptr(unsafe.Pointer(base))-c.base) / 8
}

// pool is the chunks for one number of Ps.
type pool struct {
	chunks []*chunk
	free   []*atomic.Int64 // freed slots, as their base
}

var arena struct {
	mu      sync.Mutex
	chunks  []*chunk     // all chunks, sorted by base
	pools   []*pool      // by procs, grown as needed (procs <= MaxCells)
	retired retiredQueue // in order of retirement, so of freeAt
	takes   int          // TakeSlot and TakeOwnedSlot calls since the last reclaim
	gc      []metrics.Sample
	stats   ArenaStats

	// The owners whose cleanups are not registered yet (watch.go).
	// passDue is set while a sentinel waits to run the pass that registers
	// them; ownedTakes counts TakeOwnedSlot calls meanwhile, and passArmed
	// is the GC cycle count at the first look whether the pass is overdue
	// (0 before it); passes counts the passes run. passMu is held
	// through a pass, registrations included, and taken before mu.
	record     []recorded
	passDue    bool
	passArmed  uint64
	ownedTakes int
	passes     int
	passMu     sync.Mutex
}

// reclaimEvery bounds how often TakeSlot reads the GC cycle count (about
// 100 ns) while it can still hand out never-used slots.
const reclaimEvery = 32

// gcCycles returns the number of completed GC cycles, with arena.mu held.
func gcCycles() uint64 {
	if arena.gc == nil {
		arena.gc = []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	}
	metrics.Read(arena.gc)
	return arena.gc[0].Value.Uint64()
}

// reclaim frees the retired slots whose grace period is over, with
// arena.mu held.
func reclaim() {
	arena.takes = 0
	if arena.retired.len() == 0 {
		return
	}
	n := gcCycles()
	for {
		b, ok := arena.retired.popFreeable(n)
		if !ok {
			break
		}
		freeSlot(chunkOf(b), b)
		arena.stats.Retired--
	}
	// Stamp the slots retired since the last reclaim. n is at least the
	// count at their retirement, so n+2 is a safe, if late, bound; it
	// spares RetireSlot reading the count (about 100 ns) on every Kill.
	// n never decreases, so neither do the stamps.
	arena.retired.stamp(n + 2)
}

// ArenaStats describes the slot arena.
type ArenaStats struct {
	Chunks  int // chunks allocated
	Bytes   int // bytes allocated for slabs, alignment included
	Slots   int // slots handed out at least once
	Live    int // slots owned now
	Retired int // slots retired and waiting for a grace period

	// Unwatched counts the owners (TakeOwnedSlot) that own a slot now and
	// whose cleanup is not registered yet: the record's length, which
	// Stats reads.
	Unwatched int
}

// Stats returns the arena's current figures, after freeing the retired
// slots whose grace period is over.
func Stats() ArenaStats {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	reclaim()
	s := arena.stats
	s.Unwatched = len(arena.record)
	return s
}

// slabAlign is the alignment of slabs: a cache-line pair, or the detected
// line if it is longer.
func slabAlign() int { return max(percpu.CacheLinePad, percpu.CacheLineSize()) }

// TakeSlot gives the caller a slot with one cell for each P of the current
// GOMAXPROCS (at most MaxCells), and returns its layout for cells.Cells: the
// caller's cell for P p is at base + p<<shift, for p <= last. The cells hold
// whatever their last owner left (see above). Give the slot back with
// RetireSlot, or let DropSlot do it when the owner is unreachable.
func TakeSlot() (base *atomic.Int64, last uint16, shift uint8) {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	c, base := takeLocked()
	return base, uint16(c.procs - 1), c.shift
}

// takeLocked is TakeSlot with arena.mu held: it returns the slot's base and
// its chunk, whose procs and shift are the slot's layout.
func takeLocked() (c *chunk, base *atomic.Int64) {
	procs := min(runtime.GOMAXPROCS(0), MaxCells)
	if procs >= len(arena.pools) {
		arena.pools = append(arena.pools, make([]*pool, procs+1-len(arena.pools))...)
	}
	pl := arena.pools[procs]
	if pl == nil {
		pl = new(pool)
		arena.pools[procs] = pl
	}
	arena.stats.Live++
	arena.takes++
	if len(pl.free) == 0 && arena.retired.len() > 0 {
		k := len(pl.chunks)
		if arena.takes >= reclaimEvery || k == 0 || pl.chunks[k-1].used == pl.chunks[k-1].slots {
			reclaim()
		}
	}
	if n := len(pl.free); n > 0 {
		base = pl.free[n-1]
		pl.free = pl.free[:n-1]
		return chunkOf(base), base
	}
	if k := len(pl.chunks); k > 0 && pl.chunks[k-1].used < pl.chunks[k-1].slots {
		c = pl.chunks[k-1]
	} else {
		slots := minSlabSlots
		if k > 0 {
			slots = min(2*pl.chunks[k-1].slots, maxSlabSlots)
		}
		c = newChunk(pl, procs, slots)
		pl.chunks = append(pl.chunks, c)
	}
	base = c.slot(c.used)
	c.used++
	arena.stats.Slots++
	return c, base
}

func newChunk(pl *pool, procs, slots int) *chunk {
	align := slabAlign()
	slab := 8 * slots
	if slab < align {
		slots = align / 8
		slab = align
	}
	// The allocator aligns most such blocks already (large ones to a page,
	// small ones whose size class is a multiple of the alignment to it);
	// pad only when it did not, so that a 64 KiB chunk is not rounded up
	// to the next page for 128 bytes of padding.
	mem := make([]int64, procs*slots)
	start := uintptr(unsafe.Pointer(&mem[0]))
	if start%uintptr(align) != 0 {
		mem = make([]int64, procs*slots+align/8)
		start = uintptr(unsafe.Pointer(&mem[0]))
	}
	base := (start + uintptr(align) - 1) &^ uintptr(align-1)
	c := &chunk{mem: mem, off: int(base-start) / 8, base: base, procs: procs, slots: slots,
		pool: pl}
	for 1<<c.shift < slab {
		c.shift++
	}
	i := sort.Search(len(arena.chunks), func(i int) bool { return arena.chunks[i].base > base })
	arena.chunks = append(arena.chunks, nil)
	copy(arena.chunks[i+1:], arena.chunks[i:])
	arena.chunks[i] = c
	arena.stats.Chunks++
	arena.stats.Bytes += 8 * len(mem)
	return c
}

// chunkOf returns the chunk whose slab 0 holds base, or nil.
func chunkOf(base *atomic.Int64) *chunk {
	a := uintptr(unsafe.Pointer(base))
	i := sort.Search(len(arena.chunks), func(i int) bool { return arena.chunks[i].base > a }) - 1
	if i < 0 {
		return nil
	}
	c := arena.chunks[i]
	if a >= c.base+uintptr(8*c.slots) || (a-c.base)%8 != 0 {
		return nil
	}
	return c
}

// IsSlot reports whether base is the first cell of a slot of the arena.
func IsSlot(base *atomic.Int64) bool {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	return chunkOf(base) != nil
}

// RetireSlot gives back the slot whose first cell is base, once its owner
// has stopped updating it (its cells' State is no longer Live). The slot
// becomes free after a grace period: two more completed GC cycles. It
// reports false, and does nothing, if base is not a slot of the arena
// (padded cells, or nil).
func RetireSlot(base *atomic.Int64) bool {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	if base == nil {
		return false
	}
	c := chunkOf(base)
	if c == nil {
		return false
	}
	// The owner's cleanup, if it was registered, will still run one day
	// and must then not free the slot from under its next owner. An owner
	// still on the record has none, and never will.
	if j := c.index(base); !strikeLocked(c, j) {
		if c.pending == nil {
			c.pending = make([]uint64, c.slots)
		}
		c.pending[j]++
	}
	arena.retired.push(base) // reclaim stamps it
	arena.stats.Live--
	arena.stats.Retired++
	return true
}

// DropSlot is the cleanup for an owner that became unreachable: it frees
// the owner's slot, base, unless the owner retired it already. The caller
// of TakeSlot passes it to runtime.AddCleanup with the owner as ptr and
// base as arg (a Watch does the same for TakeOwnedSlot). It does nothing if
// base is not a slot of the arena.
func DropSlot(base *atomic.Int64) {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	c := chunkOf(base)
	if c == nil {
		return
	}
	// pending[j] counts retirements of slot j whose owners' cleanups have
	// not run. One of them may be this call; if so, the slot was freed (or
	// will be) by the retirement. This call may instead be the cleanup of
	// the slot's current owner while an older, retired owner's cleanup is
	// still to come: then this owner is dead too, and the slot can wait for
	// that older cleanup, which will find pending[j] at 0 and free it.
	// Either way, a slot is freed only when its current owner retired it or
	// is unreachable.
	if j := c.index(base); c.pending != nil && c.pending[j] > 0 {
		c.pending[j]--
		return
	}
	arena.stats.Live--
	freeSlot(c, base)
}

// freeSlot puts base, a slot of c, on its pool's free list.
func freeSlot(c *chunk, base *atomic.Int64) {
	c.pool.free = append(c.pool.free, base)
}
