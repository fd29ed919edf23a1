package percpu

import (
	"os"
	"runtime"
	"strconv"
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

// Live is the value of Cells.State in which AddLocal and UpdateLocal count
// on the cells; in any other state they refuse and change nothing.
const Live = 1

// busyMark is what UpdateLocal adds to a cell's count while it works on the
// cell: a cell holding more than CellLimit is busy (see Stable).
const busyMark = 1 << 60

// Cells describes an array of per-P cells for AddLocal and UpdateLocal:
// Last+1 cells, 1<<Shift bytes apart, the first at Base. Each cell is one
// 64-bit count. The cells may be padded (a cache line each, Shift 7) or dense
// (slot i of several per-P slabs, each slab 1<<Shift bytes): package shard
// makes both. State gates the updates: they count only while it is Live.
//
// An owner may change Base while updates run, with an atomic store: to nil,
// which both updates refuse, or, from nil, to cells whose Last and Shift it
// set before the store (the updates load Base first, with an acquire on
// arm64). No other field may change while updates may run. Cells that were
// given up (Base set to nil, State no longer Live) must not be made Live
// again with new cells while an update that loaded the old Base may still
// be running: it would count on the old cells. Only the P of a cell ever
// stores to it while updates may run; see Stable for reading.
//
// Cells is 16 bytes, so that a refcount can embed it (with State as its own
// state word, and Flags for bits of its own) and stay small. The assembly
// reads the fields at fixed offsets (Base 0, State 8, Last 12, Shift 14):
// keep their order.
type Cells struct {
	Base  *atomic.Int64
	State atomic.Uint32
	Last  uint16 // the highest P id with a cell of its own
	Shift uint8  // log2 of the distance between cells, in bytes
	Flags uint8  // the owner's; nothing here reads or writes it
}

// Len returns the number of cells, 0 if Base is nil.
func (c *Cells) Len() int {
	if c.base() == nil {
		return 0
	}
	return int(c.Last) + 1
}

// Cell returns cell i, for i in [0, Len()).
func (c *Cells) Cell(i int) *atomic.Int64 {
	return cellAt(c.base(), i, c.Shift)
}

// SetBase stores b into Base atomically, as an owner must while updates may
// run (see Cells).
func (c *Cells) SetBase(b *atomic.Int64) {
	atomic.StorePointer((*unsafe.Pointer)(unsafe.Pointer(&c.Base)), unsafe.Pointer(b))
}

// base loads Base atomically: an owner may change it (with SetBase) while
// updates run.
func (c *Cells) base() unsafe.Pointer {
	return atomic.LoadPointer((*unsafe.Pointer)(unsafe.Pointer(&c.Base)))
}

// AddLocal adds delta to the cell of the calling goroutine's P and reports
// the value the cell had before the add, if c.State is Live; otherwise it
// adds nothing and reports ok false. A P beyond c.Last adds to cell
// p&c.Last. Any number of goroutines may call AddLocal on the same cells at
// once: the add is one atomic read-modify-write.
//
// The goroutine stays pinned to its P from the State check to the add, so
// that no stop-the-world, and so no garbage collection cycle, can begin
// between them: a user that stops counting on the cells (State no longer
// Live) knows that every AddLocal that saw Live has added once a GC cycle
// has started since.
func AddLocal(c *Cells, delta int64) (old int64, ok bool) {
	p := procPin()
	b := c.base()
	if c.State.Load() != Live || b == nil {
		procUnpin()
		return 0, false
	}
	if p > int(c.Last) {
		p &= int(c.Last)
	}
	old = cellAt(b, p, c.Shift).Add(delta) - delta
	procUnpin()
	return old, true
}

// cellAt returns cell p of cells 1<<shift bytes apart from base.
func cellAt(base unsafe.Pointer, p int, shift uint8) *atomic.Int64 {
	return (*atomic.Int64)(unsafe.Add(base, uintptr(p)<<shift))
}

// Stable returns the count of a cell updated by UpdateLocal. While an
// UpdateLocal is at work on the cell, the cell holds a busy mark (the count
// plus 1<<60); Stable waits, yielding, until the update has finished, and
// returns the count it left. Use it, not Load, to read such a cell; a cell
// that only AddLocal updates may be read with Load.
func Stable(cell *atomic.Int64) int64 {
	for {
		if v := cell.Load(); v <= CellLimit {
			return v
		}
		runtime.Gosched()
	}
}

// UpdatePinned is UpdateLocal with the P id from procPin: the generic
// build's UpdateLocal, and the assembly's where the runtime layout is
// unknown (the procPin tier). procPin keeps the goroutine on its P, and
// keeps every other goroutine off it, from the id to procUnpin (it raises
// m.locks, so the scheduler neither preempts the goroutine, cooperatively or
// asynchronously, nor moves it): the single-writer rule that the assembly
// gets from running NOSPLIT. The update itself is updateExclusive, the
// assembly's (plain stores, made safe by Quiesce's membarrier) or its
// generic twin (sequentially consistent atomics).
func UpdatePinned(c *Cells, delta int64) bool {
	if c == nil {
		return false
	}
	p := procPin()
	b := c.base()
	ok := b != nil && p <= int(c.Last) && updateExclusive(cellAt(b, p, c.Shift), &c.State, delta)
	procUnpin()
	return ok
}

// The fast path is chosen once, at package initialization, and never
// changes. An unusable PERCPU_FASTPATH is reported on stderr then.
var path = choosePath(pathFacts{
	env:     os.Getenv("PERCPU_FASTPATH"),
	build:   buildReason(),
	barrier: barrierStatus(),
	layout:  directReady(),
}).announce()

var exclusive = path.exclusive

// The names FastPath returns.
const (
	pathAsm     = "exclusive/asm+membarrier"
	pathPin     = "exclusive/pin+membarrier"
	pathGeneric = "exclusive/generic"
	pathShared  = "shared/generic"
)

// Exclusive reports whether the single-writer protocol (UpdateLocal and
// Quiesce) is the fast path in this process; see FastPath. Where it is
// false, users of the cells use AddLocal, whose atomic add needs no
// Quiesce.
func Exclusive() bool { return exclusive }

// FastPath names the fast path in use, for benchmarks and tools to print.
// It is chosen once, at start, and does not change. From best to worst:
//
//   - "exclusive/asm+membarrier": the assembly update, which finds the
//     caller's P in the runtime's own structures; needs membarrier (Linux)
//     and a Go release whose runtime layout the table knows.
//   - "exclusive/pin+membarrier": the same update, with the P from
//     procPin: a Go release whose layout is not known yet.
//   - "exclusive/generic": the Go twin of the update, where
//     PERCPU_FASTPATH=exclusive asks for it in a build without assembly.
//   - "shared/generic": an atomic add per update: builds without assembly
//     (purego, race, other GOARCHes), no membarrier, or
//     PERCPU_FASTPATH=shared.
//
// FastPathReason says why the path is not the first one.
func FastPath() string { return path.name }

// FastPathReason says why the fast path is not "exclusive/asm+membarrier",
// for example "runtime layout of go1.28 unknown: procPin tier",
// "membarrier refused: EPERM", "PERCPU_FASTPATH=shared", "race build" or
// "purego build", and reports an unusable PERCPU_FASTPATH value. It is ""
// when the assembly path is in use and nothing was ignored.
//
// The environment variable PERCPU_FASTPATH, read at start, may be "shared",
// which forces the shared path, or "exclusive", which asks for the
// exclusive protocol: the best exclusive path where membarrier works, and
// the generic twin in a build without assembly (its updates are sequentially
// consistent atomics, so it needs no barrier). A request that cannot be
// honoured, and any other value, is reported on stderr at start and here.
func FastPathReason() string { return path.reason }

// pathFacts are what the fast path is chosen from; each string but env is
// "" when the thing is usable, and otherwise says why not.
type pathFacts struct {
	env     string // PERCPU_FASTPATH
	build   string // the assembly is built
	barrier string // membarrier is registered
	layout  string // the runtime layout is known and checked
}

// pathChoice is the fast path chosen, and what to say on stderr about it.
type pathChoice struct {
	exclusive    bool
	name, reason string
	warning      string
}

// choosePath picks the best fast path the facts allow, honouring
// PERCPU_FASTPATH where it can and saying so where it cannot.
func choosePath(f pathFacts) pathChoice {
	var ignored string
	switch f.env {
	case "", "shared", "exclusive":
	default:
		ignored = "PERCPU_FASTPATH=" + quote(f.env) + " ignored (want shared or exclusive)"
		f.env = ""
	}
	c := pickPath(f)
	if ignored != "" {
		c.reason = joinReasons(ignored, c.reason)
		c.warning = joinReasons(ignored, c.warning)
	}
	return c
}

func pickPath(f pathFacts) pathChoice {
	switch {
	case f.env == "shared":
		return pathChoice{name: pathShared, reason: "PERCPU_FASTPATH=shared"}
	case f.build != "" && f.env == "exclusive":
		return pathChoice{exclusive: true, name: pathGeneric, reason: f.build + ", PERCPU_FASTPATH=exclusive"}
	case f.build != "":
		return pathChoice{name: pathShared, reason: f.build}
	case f.barrier != "" && f.env == "exclusive":
		why := "PERCPU_FASTPATH=exclusive not honoured: " + f.barrier
		return pathChoice{name: pathShared, reason: why, warning: why}
	case f.barrier != "":
		return pathChoice{name: pathShared, reason: f.barrier}
	case f.layout != "":
		return pathChoice{exclusive: true, name: pathPin, reason: f.layout + ": procPin tier"}
	}
	return pathChoice{exclusive: true, name: pathAsm}
}

// announce writes the choice's warning, if any, as one line on stderr, and
// returns the choice.
func (c pathChoice) announce() pathChoice {
	if c.warning != "" {
		os.Stderr.WriteString("percpu: " + c.warning + "; fast path " + c.name + "\n")
	}
	return c
}

func joinReasons(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

// quote quotes s as %q would, for the one message that needs it, without
// importing fmt into every program that uses a Ref.
func quote(s string) string { return strconv.Quote(s) }

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
