package slots

import (
	"iter"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests drive a retiredQueue of their own, not the arena's, with
// stand-ins for slots, and check it entry by entry at the sizes where an
// off-by-one would show: empty, one entry, a block less one, a block, a
// block and one, and many blocks.

// all yields the queue's entries, oldest first.
func (q *retiredQueue) all() iter.Seq[retiredSlot] {
	return func(yield func(retiredSlot) bool) {
		if q.n == 0 {
			return
		}
		for b, i := q.head, q.first; ; b, i = b.next, 0 {
			for _, e := range b.slots[i:q.fill(b)] {
				if !yield(e) {
					return
				}
			}
			if b == q.tail {
				return
			}
		}
	}
}

// blocks returns the number of blocks linked from head to tail.
func (q *retiredQueue) blocks() int {
	n := 0
	for b := q.head; b != nil; b = b.next {
		n++
	}
	return n
}

// checkQueue checks q's invariants: the blocks link head to tail, n counts
// the entries, the stamped entries are a prefix whose freeAt never
// decreases, the stamp cursor is at the first unstamped entry, an empty
// queue is at the start of its one block, and the spares are counted and
// bounded.
func checkQueue(t *testing.T, q *retiredQueue) {
	t.Helper()
	if q.tail == nil {
		require.Nil(t, q.head, "a queue without a tail has no head")
		require.Zero(t, q.n, "a queue without blocks has no entries")
		return
	}
	require.Nil(t, q.tail.next, "the tail is the last block")
	require.True(t, q.first >= 0 && q.first < retiredBlockLen, "first = %d", q.first)
	require.True(t, q.end >= 0 && q.end <= retiredBlockLen, "end = %d", q.end)
	if q.n == 0 {
		require.Same(t, q.head, q.tail, "an empty queue holds one block")
		require.Zero(t, q.first, "an empty queue starts again at its first entry")
		require.Zero(t, q.end, "an empty queue starts again at its first entry")
	}

	// Walk the entries, finding the first unstamped one and the cursor.
	entries, stamped, cursor := 0, -1, -1
	last := uint64(0)
	for b, i := q.head, q.first; ; b, i = b.next, 0 {
		require.NotNil(t, b, "the tail is linked from the head")
		if b == q.head {
			require.LessOrEqual(t, q.first, q.fill(b), "first is within the head's entries")
		}
		if b == q.stampBlock {
			cursor = entries + q.stampAt - i
		}
		for _, e := range b.slots[i:q.fill(b)] {
			// Plain ifs: testify per entry would make the random test slow.
			switch {
			case e.base == nil:
				t.Fatalf("entry %d has no base", entries)
			case e.freeAt == 0 && stamped < 0:
				stamped = entries
			case e.freeAt != 0 && stamped >= 0:
				t.Fatalf("entry %d is stamped after the unstamped entry %d", entries, stamped)
			case e.freeAt != 0 && e.freeAt < last:
				t.Fatalf("entry %d's freeAt %d is less than the one before, %d", entries, e.freeAt, last)
			}
			last = max(last, e.freeAt)
			entries++
		}
		if b == q.tail {
			break
		}
	}
	require.Equal(t, entries, q.n, "n counts the entries")
	if stamped < 0 {
		stamped = entries
	}
	require.Equal(t, stamped, cursor, "the stamp cursor is at the first unstamped entry (stampBlock in the queue, stampAt %d)", q.stampAt)

	spares := 0
	for b := q.spare; b != nil; b = b.next {
		spares++
	}
	require.Equal(t, spares, q.spares, "spares counts the spare blocks")
	require.Equal(t, q.blocks(), q.linked, "linked counts the blocks of the queue")
	require.LessOrEqual(t, spares, max(maxSpareBlocks, q.linked+1), "spares are bounded by the blocks in use")
}

// fakeSlots returns n distinct stand-ins for slot bases.
func fakeSlots(n int) []*atomic.Int64 {
	cells := make([]atomic.Int64, n)
	bases := make([]*atomic.Int64, n)
	for i := range cells {
		bases[i] = &cells[i]
	}
	return bases
}

// pushAll pushes bases in order.
func pushAll(q *retiredQueue, bases []*atomic.Int64) {
	for _, b := range bases {
		q.push(b)
	}
}

// popAll pops entries while popFreeable(gcCycles) gives them.
func popAll(q *retiredQueue, gcCycles uint64) []*atomic.Int64 {
	out := []*atomic.Int64{} // not nil, to compare equal to fakeSlots(0)
	for {
		b, ok := q.popFreeable(gcCycles)
		if !ok {
			return out
		}
		out = append(out, b)
	}
}

// blocksFor returns the number of blocks that n entries fill.
func blocksFor(n int) int { return (n + retiredBlockLen - 1) / retiredBlockLen }

// boundarySizes are the queue lengths at which an off-by-one would show.
var boundarySizes = []int{
	0, 1, 2,
	retiredBlockLen - 1, retiredBlockLen, retiredBlockLen + 1,
	2*retiredBlockLen - 1, 2 * retiredBlockLen, 2*retiredBlockLen + 1,
	7*retiredBlockLen + 3,
}

func TestRetiredBlockSize(t *testing.T) {
	size := int(unsafe.Sizeof(retiredBlock{}))
	assert.LessOrEqual(t, size, retiredBlockBytes, "a block fits its size class")
	assert.Greater(t, size+int(unsafe.Sizeof(retiredSlot{})), retiredBlockBytes, "a block holds as many entries as fit")
}

func TestRetiredQueueZeroValue(t *testing.T) {
	var q retiredQueue
	assert.Zero(t, q.len())
	_, ok := q.popFreeable(math.MaxUint64)
	assert.False(t, ok, "an empty queue frees nothing")
	q.stamp(5)
	checkQueue(t, &q)
	assert.Zero(t, q.blocks(), "the zero value holds no block")
}

func TestRetiredQueueFreesInOrder(t *testing.T) {
	for _, size := range boundarySizes {
		var q retiredQueue
		bases := fakeSlots(size)
		pushAll(&q, bases)
		checkQueue(t, &q)
		require.Equal(t, size, q.len(), "size %d", size)
		require.Equal(t, blocksFor(size), q.blocks(), "size %d: blocks", size)
		require.Empty(t, popAll(&q, math.MaxUint64), "size %d: unstamped entries are never freed", size)

		q.stamp(10)
		checkQueue(t, &q)
		require.Empty(t, popAll(&q, 9), "size %d: freed before freeAt", size)
		require.Equal(t, size, q.len(), "size %d", size)
		require.Equal(t, bases, popAll(&q, 10), "size %d: all freed at freeAt, in order", size)
		checkQueue(t, &q)
		require.Zero(t, q.len(), "size %d", size)
		require.Equal(t, min(blocksFor(size), 1), q.blocks(), "size %d: an emptied queue keeps one block", size)
		require.Equal(t, min(max(blocksFor(size)-1, 0), maxSpareBlocks), q.spares, "size %d: emptied blocks are spares", size)
	}
}

func TestRetiredQueueStampsOnlyUnstamped(t *testing.T) {
	// Three generations: the first two stamped 10 and 20, the third left
	// unstamped. Each case puts a stamp on a block boundary or next to it.
	B := retiredBlockLen
	cases := [][3]int{
		{B, 1, 1},         // stamp with the tail full; the next push opens a block
		{B - 1, 1, 1},     // the second generation is the block's last entry
		{B + 1, B - 1, 1}, // the second ends a block
		{1, B, B + 1},
		{3, 0, 2}, // a stamp with nothing new changes nothing
		{0, 2 * B, B},
		{2 * B, 2 * B, 2 * B},
	}
	for _, gens := range cases {
		var q retiredQueue
		var bases [3][]*atomic.Int64
		for g, size := range gens {
			bases[g] = fakeSlots(size)
			pushAll(&q, bases[g])
			if g < 2 {
				q.stamp(uint64(10 * (g + 1)))
			}
			checkQueue(t, &q)
		}
		i := 0
		for e := range q.all() {
			want := uint64(0)
			switch {
			case i < gens[0]:
				want = 10
			case i < gens[0]+gens[1]:
				want = 20
			}
			require.Equal(t, want, e.freeAt, "generations %v: entry %d", gens, i)
			i++
		}
		require.Equal(t, gens[0]+gens[1]+gens[2], i, "generations %v", gens)

		require.Equal(t, bases[0], popAll(&q, 19), "generations %v: the first generation alone is freed", gens)
		checkQueue(t, &q)
		require.Equal(t, bases[1], popAll(&q, 20), "generations %v: then the second", gens)
		checkQueue(t, &q)
		require.Empty(t, popAll(&q, math.MaxUint64), "generations %v: the third is not stamped", gens)
		q.stamp(30)
		require.Equal(t, bases[2], popAll(&q, 30), "generations %v: until the next stamp", gens)
		checkQueue(t, &q)
	}
}

func TestRetiredQueueHeadLeavesAtStampCursor(t *testing.T) {
	// The stamp cursor is after the last entry of a full head block when
	// that block is emptied: it must move to the next block, not stay with
	// the block as it becomes a spare.
	B := retiredBlockLen
	var q retiredQueue
	first, second := fakeSlots(B), fakeSlots(B+1)
	pushAll(&q, first)
	q.stamp(1)
	pushAll(&q, second)
	checkQueue(t, &q)
	require.Equal(t, first, popAll(&q, 1))
	checkQueue(t, &q)
	require.Equal(t, 1, q.spares, "the emptied head is a spare")
	q.stamp(2)
	checkQueue(t, &q)
	require.Equal(t, second, popAll(&q, 2), "the entries after the emptied head are stamped")
	checkQueue(t, &q)
}

func TestRetiredQueueRefillAllocatesNothing(t *testing.T) {
	// Emptying and refilling the queue with up to maxSpareBlocks+1 blocks'
	// worth reuses its blocks; one entry more takes one block more.
	B := retiredBlockLen
	cases := []struct{ size, allocs int }{
		{1, 0}, {B, 0}, {B + 1, 0}, {(maxSpareBlocks + 1) * B, 0},
		{(maxSpareBlocks+1)*B + 1, 1}, {(maxSpareBlocks + 3) * B, 2},
	}
	for _, c := range cases {
		var q retiredQueue
		stamp := uint64(0)
		cycle := turnOf(&q, &stamp, fakeSlots(c.size))
		cycle()
		checkQueue(t, &q)
		assert.Equal(t, float64(c.allocs), testing.AllocsPerRun(10, cycle), "size %d: allocations per refill", c.size)
		checkQueue(t, &q)
		assert.Zero(t, q.len(), "size %d", c.size)
		assert.Equal(t, 1, q.blocks(), "size %d: an emptied queue keeps one block", c.size)
		assert.Equal(t, min(blocksFor(c.size)-1, maxSpareBlocks), q.spares, "size %d: spares", c.size)
	}
}

func TestRetiredQueueSpareBlocksReused(t *testing.T) {
	// After a burst the queue keeps its head and maxSpareBlocks spares, and
	// the next burst fills those before it allocates.
	B := retiredBlockLen
	var q retiredQueue
	bases := fakeSlots(10 * B)
	pushAll(&q, bases)
	q.stamp(1)
	require.Equal(t, bases, popAll(&q, 1))
	checkQueue(t, &q)
	require.Equal(t, maxSpareBlocks, q.spares, "spares are bounded")
	kept := map[*retiredBlock]bool{q.head: true}
	for b := q.spare; b != nil; b = b.next {
		kept[b] = true
	}
	require.Len(t, kept, maxSpareBlocks+1)

	pushAll(&q, bases)
	checkQueue(t, &q)
	require.Zero(t, q.spares, "a burst uses every spare")
	i := 0
	for b := q.head; b != nil; b, i = b.next, i+1 {
		assert.Equal(t, i <= maxSpareBlocks, kept[b], "block %d of the queue is a kept one", i)
	}
	require.Equal(t, 10, i)
}

func TestRetiredQueueMatchesSlice(t *testing.T) {
	// Random pushes and reclaims, against the arena's former slice: free
	// the stamped prefix whose freeAt <= n, then stamp the rest n+2.
	B := retiredBlockLen
	rng := rand.New(rand.NewPCG(1, 2))
	bases := fakeSlots(40 * B)
	next := 0
	var q retiredQueue
	var model []retiredSlot
	n := uint64(0)
	for op := range 3000 {
		if rng.IntN(2) == 0 {
			k := []int{0, 1, B - 1, B, B + 1, rng.IntN(3 * B)}[rng.IntN(6)]
			for range k {
				b := bases[next%len(bases)]
				next++
				q.push(b)
				model = append(model, retiredSlot{base: b})
			}
		} else {
			n += uint64(rng.IntN(3))
			got := popAll(&q, n)
			i := 0
			for ; i < len(model) && model[i].freeAt != 0 && model[i].freeAt <= n; i++ {
			}
			want := make([]*atomic.Int64, i)
			for j := range want {
				want[j] = model[j].base
			}
			model = model[i:]
			require.Equal(t, want, got, "op %d: freed", op)
			q.stamp(n + 2)
			for j := len(model) - 1; j >= 0 && model[j].freeAt == 0; j-- {
				model[j].freeAt = n + 2
			}
		}
		checkQueue(t, &q)
		require.Equal(t, len(model), q.len(), "op %d", op)
		i := 0
		for e := range q.all() {
			if e != model[i] {
				t.Fatalf("op %d: entry %d is %+v, want %+v", op, i, e, model[i])
			}
			i++
		}
	}
}

func TestRetiredQueueSteadyBacklogAllocatesNothing(t *testing.T) {
	// A backlog of many blocks whose head is freed while its tail grows, as
	// in a burst of Kills across GC cycles, reuses the blocks it frees:
	// the spares may outnumber maxSpareBlocks while the queue is that long.
	// Once it drains, maxSpareBlocks remain.
	B := retiredBlockLen
	const backlog = 4 * maxSpareBlocks // blocks
	var q retiredQueue
	stamp := uint64(1)
	pushAll(&q, fakeSlots(backlog*B))
	q.stamp(stamp)
	turn := turnOf(&q, &stamp, fakeSlots(backlog/2*B))
	turn()
	checkQueue(t, &q)
	assert.Zero(t, testing.AllocsPerRun(10, turn), "allocations per turn of a steady backlog")
	checkQueue(t, &q)
	require.Equal(t, backlog*B, q.len())
	require.Greater(t, q.spares, maxSpareBlocks, "the spares follow the backlog")

	stamp++
	q.stamp(stamp)
	for q.len() > 0 {
		_, ok := q.popFreeable(stamp)
		require.True(t, ok)
	}
	checkQueue(t, &q)
	require.Equal(t, maxSpareBlocks, q.spares, "after the drain")
}

// turnOf returns one turn of q as reclaim makes it: push bases, stamp them
// with the next *stamp, and free as many entries as were pushed, which must
// all be freeable by then.
func turnOf(q *retiredQueue, stamp *uint64, bases []*atomic.Int64) func() {
	return func() {
		pushAll(q, bases)
		*stamp++
		q.stamp(*stamp)
		for range bases {
			if _, ok := q.popFreeable(*stamp); !ok {
				panic("a stamped entry was not freed")
			}
		}
	}
}
