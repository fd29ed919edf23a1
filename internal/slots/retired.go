package slots

import (
	"sync/atomic"
	"unsafe"
)

// retiredSlot is a slot waiting for its grace period (see the arena's
// comment): base names the slot, and freeAt is the number of completed GC
// cycles after which it may be handed out again, or 0 until reclaim has
// stamped it.
type retiredSlot struct {
	base   *atomic.Int64
	freeAt uint64 // GC cycles completed when the slot may be reused; 0: not yet stamped
}

// retiredBlockBytes is the size of one block of a retiredQueue: an 8 KiB
// allocation is a size class of its own, so a block wastes nothing to
// rounding, and a block's worth of Kills is enough to make its allocation
// cheap beside them.
const retiredBlockBytes = 8192

// retiredBlockLen is the entries one block holds: as many as fit in
// retiredBlockBytes beside the link to the next block (511 on 64-bit
// platforms).
const retiredBlockLen = (retiredBlockBytes - int(unsafe.Sizeof(uintptr(0)))) / int(unsafe.Sizeof(retiredSlot{}))

// maxSpareBlocks is the fewest emptied blocks a retiredQueue keeps for
// reuse. It keeps more while the queue itself holds more blocks: as many
// spares as blocks in the queue. A steady state, in which each reclaim
// frees the head of a backlog while Kills add to its tail, then allocates
// nothing however long the backlog (a grace period is two GC cycles, and
// a burst of Kills fills many blocks in that time); once the backlog
// drains, all but maxSpareBlocks spares (and the block the queue keeps) go
// back to the garbage collector.
const maxSpareBlocks = 4

// retiredBlock is one link of a retiredQueue: a fixed array of entries
// and the next block, towards the newer entries.
type retiredBlock struct {
	slots [retiredBlockLen]retiredSlot
	next  *retiredBlock
}

// retiredQueue holds the retired slots in order of retirement, so in order
// of freeAt, in blocks of retiredBlockLen entries linked from the oldest
// (head) to the newest (tail). It appends at the tail and removes at the
// head, so an entry never moves: a backlog of millions of entries, which a
// burst of Kills builds in the two GC cycles of a grace period, costs at
// most one block allocation per retiredBlockLen retirements and never a
// copy.
//
// The stamped entries form a prefix of the queue: reclaim stamps every
// unstamped entry at once, and only stamped entries are removed. The queue
// keeps the position of the first unstamped entry (the stamp cursor), so
// that stamping touches only the entries retired since the last stamp.
//
// An empty queue that has held entries keeps one block and starts again at
// its first entry. The zero value is an empty queue. A retiredQueue is not
// safe for concurrent use; the arena's is guarded by arena.mu.
type retiredQueue struct {
	head  *retiredBlock // holds the oldest entry, if any; nil until the first push
	first int           // index in head of the oldest entry
	tail  *retiredBlock // holds the newest entry; nil until the first push
	end   int           // index in tail after the newest entry
	n     int           // entries held
	// linked counts the blocks from head to tail, for the spares' bound.
	linked int

	// The stamp cursor: the first unstamped entry is stampBlock.slots[stampAt],
	// or, if stampAt == retiredBlockLen, the first entry of the next block.
	// With no unstamped entry it is the position after the newest entry.
	stampBlock *retiredBlock
	stampAt    int

	spare  *retiredBlock // emptied blocks kept for reuse, linked through next
	spares int           // blocks in spare, at most maxSpareBlocks
}

// len returns the number of entries in the queue, stamped or not.
func (q *retiredQueue) len() int { return q.n }

// push appends base, unstamped, as the newest entry.
func (q *retiredQueue) push(base *atomic.Int64) {
	switch {
	case q.tail == nil:
		b := q.newBlock()
		q.head, q.tail = b, b
		q.stampBlock = b
		q.linked = 1
	case q.end == retiredBlockLen:
		b := q.newBlock()
		q.tail.next = b
		q.tail, q.end = b, 0
		q.linked++
	}
	q.tail.slots[q.end] = retiredSlot{base: base}
	q.end++
	q.n++
}

// stamp sets freeAt on every entry not stamped yet, that is, from the stamp
// cursor to the newest entry, and leaves the cursor after the newest entry.
// The entries stamped before keep their freeAt. The caller must never pass
// less than an earlier stamp, so that freeAt follows the order of
// retirement, which popFreeable relies on.
func (q *retiredQueue) stamp(freeAt uint64) {
	if q.tail == nil {
		return
	}
	for {
		s := q.stampBlock.slots[q.stampAt:q.fill(q.stampBlock)]
		for i := range s {
			s[i].freeAt = freeAt
		}
		q.stampAt += len(s)
		if q.stampBlock == q.tail {
			return
		}
		q.stampBlock, q.stampAt = q.stampBlock.next, 0
	}
}

// popFreeable removes the oldest entry and returns its base if that entry
// is stamped with a freeAt of at most gcCycles, the number of GC cycles
// completed; otherwise it reports false and leaves the queue as it is. As
// freeAt follows the order of retirement, repeated calls free exactly the
// slots whose grace period is over, oldest first.
func (q *retiredQueue) popFreeable(gcCycles uint64) (*atomic.Int64, bool) {
	if q.n == 0 {
		return nil, false
	}
	e := q.head.slots[q.first]
	if e.freeAt == 0 || e.freeAt > gcCycles {
		return nil, false
	}
	q.dropOldest()
	return e.base, true
}

// dropOldest removes the oldest entry, which must be stamped, so that the
// stamp cursor is not before it. An emptied queue starts again at the
// first entry of its block; an emptied head block with newer entries after
// it goes to the spares.
func (q *retiredQueue) dropOldest() {
	q.first++
	q.n--
	if q.n == 0 {
		// The entry removed was the newest, so head == tail == stampBlock.
		q.first, q.end, q.stampAt = 0, 0, 0
		return
	}
	if q.first < retiredBlockLen {
		return
	}
	old := q.head
	q.head, q.first = old.next, 0
	q.linked--
	if q.stampBlock == old {
		// The cursor is not before the entry removed, the last of old:
		// it is after it, the first entry of the new head.
		q.stampBlock, q.stampAt = q.head, 0
	}
	q.recycle(old)
}

// fill returns the number of entries written in b: all of them, but for the
// tail.
func (q *retiredQueue) fill(b *retiredBlock) int {
	if b == q.tail {
		return q.end
	}
	return retiredBlockLen
}

// newBlock returns a block for the tail, unlinked: a spare if there is one,
// or a new one.
func (q *retiredQueue) newBlock() *retiredBlock {
	b := q.spare
	if b == nil {
		return new(retiredBlock)
	}
	q.spare, b.next = b.next, nil
	q.spares--
	return b
}

// recycle keeps b, emptied and unlinked from the queue, as a spare, while
// the spares are fewer than the blocks still in the queue, or than
// maxSpareBlocks; otherwise the garbage collector takes it, and the spares
// beyond that bound too. Its entries are left as they are: they point into
// chunks, which are never freed, so they keep nothing alive, and push
// overwrites them.
func (q *retiredQueue) recycle(b *retiredBlock) {
	keep := max(maxSpareBlocks, q.linked)
	for q.spares > keep {
		q.spare = q.spare.next
		q.spares--
	}
	if q.spares == keep {
		return
	}
	b.next = q.spare
	q.spare = b
	q.spares++
}
