// Package fastpath gives the module's packages the per-architecture
// updates of per-P cells that the root package percpu implements (in
// assembly on amd64 and arm64, with Go twins elsewhere) and keeps
// unexported: a user of the module cannot reach them, and so cannot make
// them write outside its own objects. The functions here are the root
// package's own, reached by linkname: a call costs what a call of the root
// package's function would.
package fastpath

import (
	_ "unsafe" // for go:linkname

	"github.com/percpuref/percpu" // defines every function below
	"github.com/percpuref/percpu/internal/cells"
)

// Exclusive reports whether the single-writer protocol (UpdateLocal and
// Quiesce) is the fast path in this process: chosen once, at start (see
// percpu.FastPath). Where it is false, users of the cells use AddLocal,
// whose atomic add needs no Quiesce.
func Exclusive() bool { return exclusive }

//go:linkname exclusive github.com/percpuref/percpu.exclusive
var exclusive bool

// UpdateLocal is the single-writer update of the cells c describes. On the P
// p that the calling goroutine runs on, and if p <= c.Last, UpdateLocal
//
//	loads v, the count of cell p, and stores v+BusyMark there (busy),
//	loads c.State, and if it is Live
//	  and v+delta stays within [-Limit, Limit],
//	  stores v+delta, and otherwise stores v back,
//
// with plain (not locked) loads and stores, without being preempted or moved
// to another P, and reports whether it stored v+delta. Only a goroutine
// running on P p writes cell p, so the plain writes lose nothing, and even a
// refused update leaves the cell as it found it. A writer that changes
// c.State (away from Live), then calls Quiesce, then reads every cell with
// cells.Stable (which waits out the busy mark), knows that every UpdateLocal
// either stored before the value Stable returned or saw the new c.State and
// stored nothing. UpdateLocal refuses a nil c or a nil c.Base.
//
// The assembly finds the P in the runtime's structures where the runtime
// layout is known, and otherwise jumps to UpdatePinned.
//
//go:linkname UpdateLocal github.com/percpuref/percpu.updateLocal
//go:noescape
func UpdateLocal(c *cells.Cells, delta int64) bool

// UpdatePinned is UpdateLocal with the P id from procPin: what UpdateLocal
// does where the runtime layout is unknown (the procPin tier). A caller in
// Go that knows it is in that tier calls it directly, saving the jump from
// assembly to Go.
//
//go:linkname UpdatePinned github.com/percpuref/percpu.updatePinned
func UpdatePinned(c *cells.Cells, delta int64) bool

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
//
//go:linkname AddLocal github.com/percpuref/percpu.addLocal
func AddLocal(c *cells.Cells, delta int64) (old int64, ok bool)

// Quiesce makes every store made before it visible to every goroutine's next
// load, and every store made by a running goroutine before its current
// instruction visible to loads that follow Quiesce. With the assembly fast
// path it waits for a membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), a full
// barrier on every CPU running a thread of the process, that began after
// the call and has ended; concurrent callers share one (the root package's
// quiesce.go), so a call may make the system call itself, a few
// microseconds, or wait for another goroutine's, or, if one that began
// after it has already ended, return at once. In the generic build, whose
// UpdateLocal is made of sequentially consistent atomics, it does nothing.
//
//go:linkname Quiesce github.com/percpuref/percpu.quiesce
func Quiesce()

// Barriers returns how many membarriers Quiesce has issued in this process
// (0 in the generic build, whose Quiesce makes none; concurrent callers
// share one): percpuref's BenchmarkKillConcurrent reports it per Kill.
//
//go:linkname Barriers github.com/percpuref/percpu.barriers
func Barriers() uint64

// The root package must be linked for the names above to resolve; it is
// imported for that, and for its FastPath.
var _ = percpu.FastPath
