package percpu

import (
	"os"
	"strconv"
	_ "unsafe" // for go:linkname

	"github.com/percpuref/percpu/internal/cells"
)

// CacheLinePad is the size, in bytes, that a shard is padded to so that no
// two shards share a cache line. It is 128 rather than the usual 64 because
// Intel's adjacent-line prefetcher pulls cache lines in pairs, and 128 is the
// line size of Apple's arm64 cores; padding to 128 is safe everywhere.
const CacheLinePad = 128

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

// addLocal adds delta to the cell of the calling goroutine's P, atomically;
// see fastpath.AddLocal for the contract.
//
//go:linkname addLocal github.com/percpuref/percpu.addLocal
func addLocal(c *cells.Cells, delta int64) (old int64, ok bool) {
	p := procPin()
	b := c.LoadBase()
	if c.State.Load() != cells.Live || b == nil {
		procUnpin()
		return 0, false
	}
	if p > int(c.Last) {
		p &= int(c.Last)
	}
	old = cells.At(b, p, c.Shift).Add(delta) - delta
	procUnpin()
	return old, true
}

// updatePinned is updateLocal with the P id from procPin: the generic
// build's UpdateLocal, and the assembly's where the runtime layout is
// unknown (the procPin tier). procPin keeps the goroutine on its P, and
// keeps every other goroutine off it, from the id to procUnpin (it raises
// m.locks, so the scheduler neither preempts the goroutine, cooperatively or
// asynchronously, nor moves it): the single-writer rule that the assembly
// gets from running NOSPLIT. The update itself is updateExclusive, the
// assembly's (plain stores, made safe by Quiesce's membarrier) or its
// generic twin (sequentially consistent atomics).
//
//go:linkname updatePinned github.com/percpuref/percpu.updatePinned
func updatePinned(c *cells.Cells, delta int64) bool {
	if c == nil {
		return false
	}
	p := procPin()
	b := c.LoadBase()
	ok := b != nil && p <= int(c.Last) && updateExclusive(cells.At(b, p, c.Shift), &c.State, delta)
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

// exclusive reports whether the single-writer protocol (updateLocal and
// quiesce) is the fast path in this process; fastpath.Exclusive reads it.
//
//go:linkname exclusive github.com/percpuref/percpu.exclusive
var exclusive = path.exclusive

// The names FastPath returns.
const (
	pathAsm      = "exclusive/asm+membarrier"
	pathPin      = "exclusive/pin+membarrier"
	pathGeneric  = "exclusive/generic"
	pathFetchAdd = "fetchadd/generic"
)

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
//   - "fetchadd/generic": the fetchadd protocol, an atomic fetch-and-add
//     per update: builds without assembly (purego, race, other GOARCHes),
//     no membarrier, or PERCPU_FASTPATH=fetchadd. v0.1.0 named this tier
//     "shared/generic".
//
// FastPathReason says why the path is not the first one.
func FastPath() string { return path.name }

// FastPathReason says why the fast path is not "exclusive/asm+membarrier",
// for example "runtime layout of go1.28 unknown: procPin tier",
// "membarrier refused: EPERM", "PERCPU_FASTPATH=fetchadd", "race build" or
// "purego build", and reports an unusable PERCPU_FASTPATH value. It is ""
// when the assembly path is in use and nothing was ignored.
//
// The environment variable PERCPU_FASTPATH, read at start, may be
// "fetchadd", which forces the fetchadd path ("shared", its name in
// v0.1.0, is an alias that does the same), or "exclusive", which asks for
// the exclusive protocol: the best exclusive path where membarrier works,
// and the generic twin in a build without assembly (its updates are
// sequentially consistent atomics, so it needs no barrier). A request that cannot be
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
	case "", "fetchadd", "shared", "exclusive": // shared: fetchadd's name in v0.1.0
	default:
		ignored = "PERCPU_FASTPATH=" + quote(f.env) + " ignored (want fetchadd or exclusive)"
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
	case f.env == "fetchadd" || f.env == "shared":
		return pathChoice{name: pathFetchAdd, reason: "PERCPU_FASTPATH=" + f.env}
	case f.build != "" && f.env == "exclusive":
		return pathChoice{exclusive: true, name: pathGeneric, reason: f.build + ", PERCPU_FASTPATH=exclusive"}
	case f.build != "":
		return pathChoice{name: pathFetchAdd, reason: f.build}
	case f.barrier != "" && f.env == "exclusive":
		why := "PERCPU_FASTPATH=exclusive not honoured: " + f.barrier
		return pathChoice{name: pathFetchAdd, reason: why, warning: why}
	case f.barrier != "":
		return pathChoice{name: pathFetchAdd, reason: f.barrier}
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

// quiesce makes every store made before it visible to every goroutine's next
// load, and every store made by a running goroutine before its current
// instruction visible to loads that follow Quiesce. With the assembly fast
// path it is a membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) system call, a
// few microseconds, which concurrent callers share: a caller waits for a
// barrier that began after its call and ends before it returns, and runs
// one itself only if no other goroutine is about to (quiesce.go argues why
// a barrier run by another goroutine is as good as its own). In the
// generic build, whose UpdateLocal is made of sequentially consistent
// atomics, it does nothing.
//
//go:linkname quiesce github.com/percpuref/percpu.quiesce
func quiesce() {
	if asmPath {
		theBarrier.wait()
	}
}
