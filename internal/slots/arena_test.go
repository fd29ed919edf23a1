package slots

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/percpuref/percpu"
)

// These tests look inside the arena (its pools, the chunks' pending
// counters, chunkOf) to check what its API promises: layout, grace periods,
// and that the cleanup of a lost owner never frees a slot twice or from
// under its next owner. Slots that a test takes without a real owner are
// given back the way an owner would: RetireSlot, and DropSlot standing in
// for the owner's cleanup, so that every pending counter is left at 0 for
// the next test.

// gcDeadline bounds every wait for the garbage collector.
const gcDeadline = 10 * time.Second

// noAutoGC turns off automatic garbage collection until the test ends, so
// that only the test's own runtime.GC calls start cycles.
func noAutoGC(t *testing.T) {
	t.Helper()
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// gcUntil runs GC cycles until cond holds, failing the test after
// gcDeadline.
func gcUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(gcDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v of GC cycles: %s never happened (arena %+v)", gcDeadline, what, Stats())
		}
		runtime.GC()
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// drainGrace waits until no retired slot waits for a grace period and the
// arena has settled: its figures stayed the same over three GC cycles, so
// that owners lost by earlier tests have been collected and do not change
// Live in the middle of the next test.
func drainGrace(t *testing.T) {
	t.Helper()
	var last ArenaStats
	same := 0
	gcUntil(t, "the retired slots became free and the arena settled", func() bool {
		s := Stats()
		if s == last && s.Retired == 0 {
			same++
		} else {
			same = 0
		}
		last = s
		return same >= 3
	})
}

// freeCount reports how many times base is in its pool's free list, after
// freeing the retired slots whose grace period is over, as TakeSlot would.
func freeCount(base *atomic.Int64) int {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	reclaim()
	c := chunkOf(base)
	if c == nil {
		return -1
	}
	n := 0
	for _, b := range c.pool.free {
		if b == base {
			n++
		}
	}
	return n
}

// pendingOf returns the pending counter of the slot base: retirements of
// it whose owners' cleanups have not run. It returns -1 if base is not a
// slot.
func pendingOf(base *atomic.Int64) int {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	c := chunkOf(base)
	if c == nil {
		return -1
	}
	if c.pending == nil {
		return 0
	}
	return int(c.pending[c.index(base)])
}

// totalPending returns the sum of all slots' pending counters.
func totalPending() uint64 {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	n := uint64(0)
	for _, c := range arena.chunks {
		for _, p := range c.pending {
			n += p
		}
	}
	return n
}

// poolOf returns the pool for procs, or nil, with arena.mu held.
func poolOf(procs int) *pool {
	if procs < len(arena.pools) {
		return arena.pools[procs]
	}
	return nil
}

// giveBack returns slots taken without an owner as an owner would: retired,
// then its cleanup.
func giveBack(bases ...*atomic.Int64) {
	for _, b := range bases {
		RetireSlot(b)
		DropSlot(b)
	}
}

// checkArena checks, with no owner active, that no slot is free twice or
// both free and retired, and that every slot handed out is accounted for:
// Slots == Live + Retired + free.
func checkArena(t *testing.T) {
	t.Helper()
	arena.mu.Lock()
	defer arena.mu.Unlock()
	seen := make(map[*atomic.Int64]string)
	free, used := 0, 0
	for procs, pl := range arena.pools {
		if pl == nil {
			continue
		}
		for _, c := range pl.chunks {
			require.Same(t, pl, c.pool, "a chunk's pool")
			require.Equal(t, procs, c.procs, "a chunk in the pool of its procs")
			if c.pending != nil {
				require.Len(t, c.pending, c.slots, "a pending counter per slot")
			}
			used += c.used
		}
		for _, b := range pl.free {
			require.Empty(t, seen[b], "slot %p is in a free list twice", b)
			seen[b] = "free"
			require.NotNil(t, chunkOf(b), "free slot %p is not a slot", b)
			require.Equal(t, procs, chunkOf(b).procs, "free slot %p is in the wrong pool", b)
			free++
		}
	}
	retired := 0
	checkQueue(t, &arena.retired)
	for rs := range arena.retired.all() {
		b := rs.base
		require.Empty(t, seen[b], "slot %p waits for a grace period but is %s", b, seen[b])
		seen[b] = "waiting"
		retired++
	}
	s := arena.stats
	require.Equal(t, used, s.Slots, "Slots is the sum of the chunks' used slots")
	require.Equal(t, len(arena.chunks), s.Chunks)
	bytes := 0
	for _, c := range arena.chunks {
		bytes += 8 * len(c.mem)
	}
	require.Equal(t, bytes, s.Bytes)
	require.Equal(t, retired, s.Retired, "retired slots")
	require.Equal(t, s.Slots, s.Live+s.Retired+free, "Slots == Live + Retired + free (stats %+v, %d free)", s, free)
}

// cellRange returns the addresses of the chunk's memory, [lo, hi).
func cellRange(c *chunk) (lo, hi uintptr) {
	lo = uintptr(unsafe.Pointer(&c.mem[0]))
	return lo, lo + uintptr(8*len(c.mem))
}

// checkLayout checks one slot's layout against its chunk and returns its
// cells' addresses.
func checkLayout(t *testing.T, base *atomic.Int64, last uint16, shift uint8, procs int) []uintptr {
	t.Helper()
	arena.mu.Lock()
	c := chunkOf(base)
	arena.mu.Unlock()
	require.NotNil(t, c, "TakeSlot returned %p, not a slot", base)
	require.Equal(t, procs, c.procs, "slabs in the slot's chunk")
	require.Equal(t, uint16(procs-1), last, "last")
	require.Equal(t, c.shift, shift)
	slab := uintptr(1) << shift
	require.Equal(t, uintptr(8*c.slots), slab, "a slab is 8 bytes per slot, a power of two")
	require.Zero(t, slab%percpu.CacheLinePad, "slab size %d is a multiple of the cache-line pad", slab)
	require.Zero(t, c.base%percpu.CacheLinePad, "slab 0 is aligned to %d", percpu.CacheLinePad)
	a := uintptr(unsafe.Pointer(base))
	require.True(t, a >= c.base && a < c.base+slab && (a-c.base)%8 == 0, "slot %#x in slab 0 [%#x, %#x)", a, c.base, c.base+slab)
	lo, hi := cellRange(c)
	cells := make([]uintptr, int(last)+1)
	for p := range cells {
		cell := a + uintptr(p)<<shift
		require.True(t, cell >= lo && cell+8 <= hi, "cell %d at %#x is inside the chunk [%#x, %#x)", p, cell, lo, hi)
		slabStart := c.base + uintptr(p)*slab
		require.Zero(t, slabStart%percpu.CacheLinePad, "slab %d aligned", p)
		require.True(t, cell >= slabStart && cell < slabStart+slab, "cell %d is in slab %d", p, p)
		cells[p] = cell
	}
	return cells
}

func TestArenaTakeSlotLayout(t *testing.T) {
	drainGrace(t)
	procs := min(runtime.GOMAXPROCS(0), MaxCells)
	before := Stats()
	arena.mu.Lock()
	free0 := 0
	if pl := poolOf(procs); pl != nil {
		free0 = len(pl.free)
	}
	arena.mu.Unlock()

	// Enough slots to go through every chunk size up to the largest, and
	// into a second chunk of the largest.
	n := maxSlabSlots + 10
	for s := minSlabSlots; s <= maxSlabSlots; s *= 2 {
		n += s
	}
	if testing.Short() {
		n = 3*minSlabSlots + 5
	}
	bases := make([]*atomic.Int64, 0, n)
	shifts := make([]uint8, 0, n)
	slots := make(map[*atomic.Int64]bool, n)
	cells := make(map[uintptr]string, n*procs)
	for i := 0; i < n; i++ {
		base, last, shift := TakeSlot()
		require.False(t, slots[base], "TakeSlot handed out %p twice", base)
		slots[base] = true
		bases = append(bases, base)
		shifts = append(shifts, shift)
		for p, a := range checkLayout(t, base, last, shift, procs) {
			if other, dup := cells[a]; dup {
				t.Fatalf("cell %d of slot %d at %#x is also %s", p, i, a, other)
			}
			cells[a] = fmt.Sprintf("cell %d of slot %d", p, i)
		}
	}
	after := Stats()
	assert.Equal(t, before.Live+n, after.Live, "Live counts the slots taken")
	assert.Equal(t, before.Slots+max(0, n-free0), after.Slots, "new slots are made only once the free list is empty")

	// Every cell is its own memory: write each, then read all back.
	i := int64(0)
	for k, base := range bases {
		for p := 0; p < procs; p++ {
			i++
			(*atomic.Int64)(unsafe.Add(unsafe.Pointer(base), uintptr(p)<<shifts[k])).Store(i)
		}
	}
	i = 0
	for k, base := range bases {
		for p := 0; p < procs; p++ {
			i++
			require.Equal(t, i, (*atomic.Int64)(unsafe.Add(unsafe.Pointer(base), uintptr(p)<<shifts[k])).Load(), "cell %d of slot %d", p, k)
		}
	}

	// The pool's chunks double from the smallest slab to the largest.
	arena.mu.Lock()
	chunks := append([]*chunk(nil), poolOf(procs).chunks...)
	arena.mu.Unlock()
	require.NotEmpty(t, chunks)
	assert.Equal(t, max(minSlabSlots, percpu.CacheLinePad/8), chunks[0].slots, "first chunk's slab")
	for k := 1; k < len(chunks); k++ {
		assert.Equal(t, min(2*chunks[k-1].slots, maxSlabSlots), chunks[k].slots, "chunk %d's slab doubles the last, up to %d", k, maxSlabSlots)
		assert.Equal(t, chunks[k-1].slots, chunks[k-1].used, "chunk %d was filled before chunk %d was made", k-1, k)
	}
	for k, c := range chunks {
		assert.Equal(t, procs, c.procs, "chunk %d", k)
		assert.GreaterOrEqual(t, 8*len(c.mem), 8*procs*c.slots, "chunk %d holds its slabs", k)
		assert.LessOrEqual(t, 8*len(c.mem), 8*procs*c.slots+percpu.CacheLinePad, "chunk %d wastes at most the alignment", k)
	}
	if !testing.Short() {
		assert.Equal(t, maxSlabSlots, chunks[len(chunks)-1].slots, "the largest chunk size is reached")
		assert.GreaterOrEqual(t, len(chunks), 2+countSizes(), "a chunk of the largest size was followed by another")
	}

	giveBack(bases...)
	drainGrace(t)
	checkArena(t)
	assert.Equal(t, before.Live, Stats().Live)
}

// countSizes returns the number of chunk sizes from minSlabSlots to
// maxSlabSlots, less one.
func countSizes() int {
	n := 0
	for s := max(minSlabSlots, percpu.CacheLinePad/8); s < maxSlabSlots; s *= 2 {
		n++
	}
	return n
}

func TestArenaRetireSlotWaitsForGC(t *testing.T) {
	drainGrace(t)
	noAutoGC(t)
	before := Stats()
	base, _, _ := TakeSlot()
	require.True(t, IsSlot(base))
	require.True(t, RetireSlot(base))
	s := Stats()
	assert.Equal(t, before.Live, s.Live, "a retired slot is not live")
	assert.Equal(t, before.Retired+1, s.Retired, "a retired slot waits for a grace period")
	assert.Equal(t, 1, pendingOf(base), "the owner's cleanup is still owed")

	// No GC cycle has begun since the retirement: the slot must not be
	// handed out again, however long we wait and however many we take.
	var taken []*atomic.Int64
	for i := 0; i < 3*minSlabSlots; i++ {
		for j := 0; j < 10; j++ {
			runtime.Gosched()
		}
		b, _, _ := TakeSlot()
		require.NotSame(t, base, b, "slot handed out again before a GC cycle (after %d takes)", i)
		require.Zero(t, freeCount(base), "slot free before a GC cycle")
		taken = append(taken, b)
	}
	for _, b := range taken {
		DropSlot(b) // owners lost without retiring: free at once
	}
	require.Zero(t, freeCount(base), "slot free before a GC cycle")
	assert.Equal(t, before.Retired+1, Stats().Retired)

	gcUntil(t, "the retired slot became free", func() bool { return freeCount(base) == 1 })
	assert.Equal(t, before.Retired, Stats().Retired)
	b, _, _ := TakeSlot()
	assert.Same(t, base, b, "the slot freed last is handed out next")
	giveBack(b)
	DropSlot(base) // the first owner's cleanup
	drainGrace(t)
	assert.Zero(t, pendingOf(base))
	checkArena(t)
}

func TestArenaRetireBatches(t *testing.T) {
	// Slots retired while a grace period is out wait for one of their own.
	drainGrace(t)
	noAutoGC(t)
	var bases []*atomic.Int64
	for i := 0; i < 5; i++ {
		b, _, _ := TakeSlot()
		bases = append(bases, b)
	}
	for i, b := range bases {
		require.True(t, RetireSlot(b))
		runtime.Gosched()
		for _, b2 := range bases[:i+1] {
			require.Zero(t, freeCount(b2), "slot free without a GC cycle")
		}
	}
	assert.Equal(t, 5, Stats().Retired)
	gcUntil(t, "all five retired slots became free", func() bool {
		for _, b := range bases {
			if freeCount(b) != 1 {
				return false
			}
		}
		return true
	})
	for _, b := range bases {
		DropSlot(b)
	}
	drainGrace(t)
	checkArena(t)
}

func TestArenaNotASlot(t *testing.T) {
	drainGrace(t)
	before := Stats()
	pending := totalPending() // cleanups held back by earlier tests, if any
	set := NewSet(4)
	setBase, _, _ := set.Layout()
	var stack atomic.Int64
	base, last, shift := TakeSlot()
	defer giveBack(base)

	assert.True(t, IsSlot(base))
	assert.False(t, IsSlot(nil))
	assert.False(t, IsSlot(setBase), "a padded Set's cells")
	assert.False(t, IsSlot(&stack))
	assert.False(t, RetireSlot(nil))
	assert.False(t, RetireSlot(setBase))
	assert.False(t, RetireSlot(&stack))
	if last > 0 {
		cell1 := (*atomic.Int64)(unsafe.Add(unsafe.Pointer(base), uintptr(1)<<shift))
		assert.False(t, IsSlot(cell1), "cell 1 of a slot is not a slot")
		assert.False(t, RetireSlot(cell1))
	}
	arena.mu.Lock()
	c := chunkOf(base)
	arena.mu.Unlock()
	if c.off+c.slots < len(c.mem) { // at GOMAXPROCS 1, slab 0 may end the chunk
		end := (*atomic.Int64)(unsafe.Pointer(&c.mem[c.off+c.slots]))
		assert.False(t, IsSlot(end), "the first word after slab 0")
	}
	mid := (*atomic.Int64)(unsafe.Add(unsafe.Pointer(base), 4))
	assert.False(t, IsSlot(mid), "an address inside a slot")
	assert.False(t, RetireSlot(mid))
	assert.True(t, IsSlot(c.slot(0)))
	assert.True(t, IsSlot(c.slot(c.slots-1)))

	s := Stats()
	assert.Equal(t, before.Live+1, s.Live, "failed retirements change nothing")
	assert.Equal(t, before.Retired, s.Retired, "failed retirements change nothing")
	assert.Zero(t, pendingOf(base), "failed retirements count no cleanup as owed")
	assert.Equal(t, pending, totalPending(), "failed retirements count no cleanup as owed")

	// DropSlot of what is not a slot frees nothing and counts nothing.
	DropSlot(nil)
	DropSlot(setBase)
	DropSlot(&stack)
	DropSlot(mid)
	assert.Equal(t, s, Stats(), "DropSlot of no slot changes nothing")
	assert.Zero(t, freeCount(base), "DropSlot of no slot freed a slot")
	assert.Equal(t, pending, totalPending())
	runtime.KeepAlive(set)
}

// takeUnique takes n slots and checks that none was handed out twice.
func takeUnique(t *testing.T, n int) []*atomic.Int64 {
	t.Helper()
	seen := make(map[*atomic.Int64]bool, n)
	out := make([]*atomic.Int64, n)
	for i := range out {
		b, _, _ := TakeSlot()
		require.False(t, seen[b], "slot %p handed out twice at once", b)
		seen[b] = true
		out[i] = b
	}
	return out
}

func TestArenaDropSlotLostOwner(t *testing.T) {
	// (a) An owner lost without retiring: its slot is free at once.
	drainGrace(t)
	noAutoGC(t)
	before := Stats()
	base, _, _ := TakeSlot()
	DropSlot(base)
	assert.Equal(t, 1, freeCount(base), "free at once")
	assert.Zero(t, pendingOf(base), "no cleanup is owed")
	assert.Equal(t, before.Live, Stats().Live)
	b, _, _ := TakeSlot()
	assert.Same(t, base, b)
	giveBack(b)
	drainGrace(t)
	checkArena(t)
}

func TestArenaDropSlotAfterRetire(t *testing.T) {
	// (b) An owner that retired its slot and whose cleanup then runs: the
	// slot is freed once, by the grace period, whichever comes first.
	for _, cleanupFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("cleanupBeforeGrace=%v", cleanupFirst), func(t *testing.T) {
			drainGrace(t)
			noAutoGC(t)
			before := Stats()
			base, _, _ := TakeSlot()
			require.True(t, RetireSlot(base))
			if cleanupFirst {
				DropSlot(base)
				assert.Zero(t, freeCount(base), "the cleanup of a retired owner does not free its slot")
				assert.Zero(t, pendingOf(base))
				drainGrace(t)
			} else {
				drainGrace(t)
				require.Equal(t, 1, freeCount(base))
				DropSlot(base)
			}
			assert.Equal(t, 1, freeCount(base), "freed exactly once")
			assert.Zero(t, pendingOf(base))
			assert.Equal(t, before.Live, Stats().Live, "Live counted down once")
			checkArena(t)
			// Taking many slots afterwards never hands out one twice.
			bases := takeUnique(t, 4*minSlabSlots)
			giveBack(bases...)
			drainGrace(t)
			checkArena(t)
		})
	}
}

// retireAndRetake retires base for its owner and, after the grace period,
// takes it again for the next owner: with nothing else free, the slot
// freed last is the one handed out.
func retireAndRetake(t *testing.T, base *atomic.Int64) {
	t.Helper()
	require.True(t, RetireSlot(base))
	drainGrace(t)
	next, _, _ := TakeSlot()
	require.Same(t, base, next, "the next owner reuses the slot")
}

func TestArenaDropSlotOfOlderOwner(t *testing.T) {
	// (c) A retires its slot, B takes it after the grace period, and A's
	// cleanup runs while B is alive: it takes A's retirement off the
	// slot's counter, and B's slot stays B's. When B is lost too, B's
	// cleanup finds the counter at 0 and frees the slot.
	drainGrace(t)
	noAutoGC(t)
	before := Stats()
	base, _, _ := TakeSlot() // A
	retireAndRetake(t, base) // B
	assert.Equal(t, before.Live+1, Stats().Live)
	assert.Equal(t, 1, pendingOf(base), "A's cleanup is owed")

	DropSlot(base) // A's cleanup, B alive
	assert.Zero(t, freeCount(base), "A's cleanup freed the slot that B owns")
	assert.Zero(t, pendingOf(base), "A's cleanup has run")
	assert.Equal(t, before.Live+1, Stats().Live, "B is still live")
	others := takeUnique(t, 2*minSlabSlots)
	for _, o := range others {
		require.NotSame(t, base, o, "B's slot handed out while B owns it")
	}

	DropSlot(base) // B's cleanup
	assert.Equal(t, 1, freeCount(base), "B lost: its slot is free")
	assert.Equal(t, before.Live+len(others), Stats().Live)
	assert.Zero(t, pendingOf(base))
	giveBack(others...)
	drainGrace(t)
	checkArena(t)
	assert.Equal(t, before.Live, Stats().Live)
}

func TestArenaDropSlotTwoRetiredOwners(t *testing.T) {
	// A and B each retire the slot in turn; C owns it when the cleanups of
	// A and B run: C keeps it. C's cleanup frees it.
	drainGrace(t)
	noAutoGC(t)
	before := Stats()
	base, _, _ := TakeSlot() // A
	retireAndRetake(t, base) // B
	retireAndRetake(t, base) // C
	assert.Equal(t, 2, pendingOf(base))

	DropSlot(base) // A's cleanup
	assert.Equal(t, 1, pendingOf(base))
	DropSlot(base) // B's cleanup
	assert.Zero(t, pendingOf(base))
	assert.Zero(t, freeCount(base), "older owners' cleanups freed C's slot")
	assert.Equal(t, before.Live+1, Stats().Live)
	DropSlot(base) // C's cleanup
	assert.Equal(t, 1, freeCount(base))
	assert.Equal(t, before.Live, Stats().Live)
	checkArena(t)
}

func TestArenaDropSlotNewerOwnerFirst(t *testing.T) {
	// A retires, B takes the slot and is lost before A's cleanup runs. B's
	// cleanup cannot tell itself from A's: it takes one off the counter
	// and frees nothing, and the slot waits for the other cleanup (A's,
	// see DropSlot), which finds the counter at 0 and frees it; Live
	// counts B down only then. Nothing is freed twice, and the slot is not
	// handed out while it waits.
	drainGrace(t)
	noAutoGC(t)
	before := Stats()
	base, _, _ := TakeSlot() // A
	retireAndRetake(t, base) // B
	DropSlot(base)           // B's cleanup
	assert.Zero(t, freeCount(base), "freed while A's cleanup is owed")
	assert.Zero(t, pendingOf(base))
	assert.Equal(t, before.Live+1, Stats().Live, "B is counted until the slot is freed")
	others := takeUnique(t, 2*minSlabSlots)
	for _, o := range others {
		require.NotSame(t, base, o, "the slot handed out before A's cleanup ran")
	}
	giveBack(others...)

	DropSlot(base) // A's cleanup
	assert.Equal(t, 1, freeCount(base), "free once both owners are gone")
	assert.Equal(t, before.Live, Stats().Live)
	assert.Zero(t, pendingOf(base))

	// The slot's next owner starts with a clean counter: retired and
	// cleaned up, it frees the slot once. (The others wait for their grace
	// period, so the slot freed last is the one handed out.)
	c, _, _ := TakeSlot()
	require.Same(t, base, c, "the slot freed last is handed out next")
	giveBack(c)
	drainGrace(t)
	assert.Equal(t, 1, freeCount(base))
	assert.Zero(t, pendingOf(base))
	checkArena(t)
}

func TestArenaPendingPerSlot(t *testing.T) {
	// The counters are per slot: a retired slot's owed cleanup does not hold
	// back a lost owner's slot next to it in the same chunk (slab 0), nor
	// is it taken off by that owner's cleanup.
	drainGrace(t)
	pending := totalPending() // cleanups held back by earlier tests, if any
	noAutoGC(t)
	before := Stats()
	bases := takeUnique(t, 2*minSlabSlots)
	var x, y *atomic.Int64
	arena.mu.Lock()
	for i := 0; i < len(bases) && y == nil; i++ {
		for k := i + 1; k < len(bases); k++ {
			if chunkOf(bases[i]) == chunkOf(bases[k]) {
				x, y = bases[i], bases[k]
				break
			}
		}
	}
	arena.mu.Unlock()
	require.NotNil(t, y, "two slots of one chunk")

	require.True(t, RetireSlot(x))
	assert.Equal(t, 1, pendingOf(x))
	assert.Zero(t, pendingOf(y), "retiring x counts nothing for y")
	DropSlot(y) // y's owner lost
	assert.Equal(t, 1, freeCount(y), "y is free at once")
	assert.Equal(t, 1, pendingOf(x), "y's cleanup took nothing off x's counter")
	DropSlot(x) // x's owner's cleanup
	assert.Zero(t, pendingOf(x))
	assert.Zero(t, freeCount(x), "x waits for its grace period")
	giveBack(slices.DeleteFunc(bases, func(b *atomic.Int64) bool { return b == x || b == y })...)
	drainGrace(t)
	assert.Equal(t, 1, freeCount(x))
	assert.Equal(t, before.Live, Stats().Live)
	assert.Equal(t, pending, totalPending())
	checkArena(t)
}

func TestArenaCountersAtFirstRetirement(t *testing.T) {
	// A new chunk has no counters: a lost owner's slot in it is freed at
	// once. Its first retirement gives it one counter per slot.
	drainGrace(t)
	noAutoGC(t)
	old := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	runtime.GOMAXPROCS(5) // a pool of its own, so that its chunks are new
	before := Stats()
	var bases []*atomic.Int64
	var c *chunk
	for c == nil {
		chunks := Stats().Chunks
		b, _, _ := TakeSlot()
		bases = append(bases, b)
		if Stats().Chunks > chunks { // b is the first slot of a new chunk
			arena.mu.Lock()
			c = chunkOf(b)
			arena.mu.Unlock()
		}
		require.Less(t, len(bases), 10*maxSlabSlots, "no new chunk")
	}
	b2, _, _ := TakeSlot()
	bases = append(bases, b2)
	x, y := bases[len(bases)-2], b2
	// counters returns len(c.pending), or -1 if c has none.
	counters := func() int {
		arena.mu.Lock()
		defer arena.mu.Unlock()
		if c.pending == nil {
			return -1
		}
		return len(c.pending)
	}
	arena.mu.Lock()
	cy := chunkOf(y)
	arena.mu.Unlock()
	require.Same(t, c, cy, "two slots of the new chunk")
	require.Equal(t, -1, counters(), "a new chunk has no counters")

	DropSlot(y) // y's owner lost
	assert.Equal(t, 1, freeCount(y), "free at once")
	assert.Equal(t, -1, counters(), "a lost owner's cleanup allocates no counters")

	require.True(t, RetireSlot(x))
	assert.Equal(t, c.slots, counters(), "the first retirement gives the chunk its counters")
	assert.Equal(t, 1, pendingOf(x))
	DropSlot(x) // x's owner's cleanup
	assert.Zero(t, pendingOf(x))
	assert.Zero(t, freeCount(x), "x waits for its grace period")

	giveBack(slices.DeleteFunc(bases, func(b *atomic.Int64) bool { return b == x || b == y })...)
	runtime.GOMAXPROCS(old)
	drainGrace(t)
	assert.Equal(t, 1, freeCount(x))
	assert.Equal(t, before.Live, Stats().Live)
	checkArena(t)
}

type slotOwner struct {
	base *atomic.Int64
	_    [3]int64
}

// newOwner takes a slot for a new owner and registers DropSlot as its
// cleanup, as percpuref does; ran counts the cleanups that have run.
func newOwner(ran *atomic.Int64) *slotOwner {
	o := &slotOwner{}
	o.base, _, _ = TakeSlot()
	runtime.AddCleanup(o, func(b *atomic.Int64) { DropSlot(b); ran.Add(1) }, o.base)
	return o
}

func TestArenaRealCleanups(t *testing.T) {
	// The same cases with runtime.AddCleanup doing the calling, as
	// percpuref does.
	drainGrace(t)
	before := Stats()
	const n = 64
	var ran atomic.Int64
	lost := make([]*atomic.Int64, n)
	for i := range lost {
		lost[i] = newOwner(&ran).base
	}
	retired := make([]*atomic.Int64, n)
	for i := range retired {
		o := newOwner(&ran)
		RetireSlot(o.base)
		retired[i] = o.base
	}
	all := append(append([]*atomic.Int64(nil), lost...), retired...)
	gcUntil(t, "every slot was freed and every cleanup ran", func() bool {
		for _, b := range all {
			if freeCount(b) == 0 || pendingOf(b) != 0 {
				return false
			}
		}
		return ran.Load() == 2*n
	})
	for _, b := range all {
		require.Equal(t, 1, freeCount(b), "slot %p free exactly once", b)
	}
	assert.Equal(t, before.Live, Stats().Live)
	drainGrace(t)
	checkArena(t)
}

func TestArenaGOMAXPROCSGrowth(t *testing.T) {
	drainGrace(t)
	old := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	before := Stats()
	procs0 := min(old, MaxCells)
	b0, last0, shift0 := TakeSlot()
	cells0 := checkLayout(t, b0, last0, shift0, procs0)

	runtime.GOMAXPROCS(8)
	b8, last8, shift8 := TakeSlot()
	require.Equal(t, uint16(7), last8, "a slot taken at GOMAXPROCS 8 has 8 cells")
	cells8 := checkLayout(t, b8, last8, shift8, 8)
	arena.mu.Lock()
	c8 := chunkOf(b8)
	c0 := chunkOf(b0)
	arena.mu.Unlock()
	assert.Equal(t, 8, c8.procs, "a chunk with 8 slabs")
	if old != 8 {
		assert.NotSame(t, c0, c8, "the new slot is in a chunk of its own size")
	}
	// The old slot keeps its layout.
	assert.Equal(t, procs0, c0.procs)
	assert.Equal(t, cells0, checkLayout(t, b0, last0, shift0, procs0))
	mine := make(map[uintptr]bool)
	for _, a := range append(append([]uintptr(nil), cells0...), cells8...) {
		require.False(t, mine[a], "cells of the two slots overlap at %#x", a)
		mine[a] = true
	}

	runtime.GOMAXPROCS(1)
	b1, last1, shift1 := TakeSlot()
	assert.Equal(t, uint16(0), last1)
	checkLayout(t, b1, last1, shift1, 1)

	bases := []*atomic.Int64{b0, b8, b1}
	if !testing.Short() {
		runtime.GOMAXPROCS(MaxCells + 3)
		bm, lastm, shiftm := TakeSlot()
		assert.Equal(t, uint16(MaxCells-1), lastm, "at most MaxCells cells")
		checkLayout(t, bm, lastm, shiftm, MaxCells)
		bases = append(bases, bm)
	}
	runtime.GOMAXPROCS(old)

	// Slots go back to their own pool, whatever GOMAXPROCS is now.
	giveBack(bases...)
	drainGrace(t)
	for _, b := range bases {
		assert.Equal(t, 1, freeCount(b))
	}
	assert.Equal(t, before.Live, Stats().Live)
	checkArena(t)
	runtime.GOMAXPROCS(8)
	b, _, _ := TakeSlot()
	assert.Same(t, b8, b, "the freed 8-slab slot is handed out again at GOMAXPROCS 8")
	runtime.GOMAXPROCS(old)
	giveBack(b)
	drainGrace(t)
	checkArena(t)
}

func TestArenaConcurrent(t *testing.T) {
	// Owners take, retire and lose slots from many goroutines while GC
	// cycles run and GOMAXPROCS changes; then every slot is accounted for
	// once.
	drainGrace(t)
	old := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	before := Stats()
	workers, rounds := 8, 400
	if testing.Short() {
		rounds = 60
	}
	var wg sync.WaitGroup
	var owned sync.Map // slots owned now, by base: taking one twice fails
	var dup atomic.Value
	var ran atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				o := newOwner(&ran)
				if _, loaded := owned.LoadOrStore(o.base, w); loaded {
					dup.Store(fmt.Sprintf("slot %p handed out while owned", o.base))
				}
				o.base.Add(1) // the owner uses its cell
				runtime.Gosched()
				switch i % 3 {
				case 0: // lost: the cleanup gives the slot back
					owned.Delete(o.base)
				case 1: // retired, then lost
					owned.Delete(o.base)
					RetireSlot(o.base)
				case 2: // retired while the owner lives on a little
					owned.Delete(o.base)
					RetireSlot(o.base)
					runtime.Gosched()
					runtime.KeepAlive(o)
				}
				if i%50 == 0 && w == 0 {
					runtime.GC()
				}
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, p := range []int{1, 4, 2, old} {
			runtime.GOMAXPROCS(p)
			runtime.Gosched()
		}
	}()
	wg.Wait()
	if d := dup.Load(); d != nil {
		t.Fatal(d)
	}
	// Wait with every P that the test used back: cleanups that the runtime
	// queued on a P removed by a GOMAXPROCS decrease run only once that P
	// is back (see "Cleanups held back" below).
	runtime.GOMAXPROCS(4)
	gcUntil(t, "every owner's slot came back and every cleanup ran", func() bool {
		s := Stats()
		// Live may end below before.Live: owners of earlier tests may have
		// been collected meanwhile.
		return s.Live <= before.Live && s.Retired == 0 && totalPending() == 0 &&
			ran.Load() == int64(workers*rounds)
	})
	runtime.GOMAXPROCS(old)
	drainGrace(t)
	checkArena(t)
}

// Cleanups held back, for the test below.
//
// A cleanup can be held back indefinitely. In go1.26 the sweeper queues the
// cleanups it finds in a block of the P it runs on (runtime.cleanupQueue
// enqueue, pp.cleanups), and the block is handed to the cleanup goroutines
// only when sweeping ends (cleanupQueue.flush, which walks allp). When
// GOMAXPROCS is lowered in between, (*p).destroy does not flush the removed
// P's block and flush no longer sees that P: the cleanups in it run only
// once GOMAXPROCS is raised again, which may be never. Go 1.25+ lowers
// GOMAXPROCS on its own when a container's CPU limit drops.
//
// For a lost owner that costs one slot, which the arena cannot prevent.
// Retired slots do not depend on cleanups: their grace period is counted in
// completed GC cycles.

func TestArenaSlotsComeBackAfterGOMAXPROCSDrops(t *testing.T) {
	// Owners take, retire and lose slots while GOMAXPROCS goes up and down
	// under GC cycles, and then stays low: every retired slot must come
	// back. (Lost owners' slots may not: see "Cleanups held back".) With
	// the grace period in a cleanup, this failed in about half the runs.
	drainGrace(t)
	old := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(old) })
	var stop atomic.Bool
	var wg sync.WaitGroup
	var ran atomic.Int64
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				o := newOwner(&ran)
				runtime.Gosched()
				if i%2 == 0 {
					RetireSlot(o.base)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			runtime.GC()
		}
	}()
	for start := time.Now(); time.Since(start) < 500*time.Millisecond; {
		runtime.GOMAXPROCS(4)
		runtime.Gosched()
		runtime.GOMAXPROCS(1)
		runtime.Gosched()
	}
	stop.Store(true)
	wg.Wait()
	gcUntil(t, "every retired slot came back at GOMAXPROCS 1", func() bool {
		return Stats().Retired == 0
	})

}
