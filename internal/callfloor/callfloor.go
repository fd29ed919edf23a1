// Package callfloor measures what a call costs a locked add: the floor
// under an atomic-mode Get or Put of percpuref, which is a call into
// assembly where an atomic.Int64's Add is inlined. AsmAdd is the add alone
// behind an assembly call (the Ref's call, with no state check around it),
// GoAdd the add behind a Go call that is not inlined. BenchmarkCallFloor in
// percpuref sets them beside the inlined add and the Ref. Only benchmarks
// import it.
package callfloor

import "sync/atomic"

// GoAdd is c.Add(d) behind a call that the compiler may not inline.
//
//go:noinline
func GoAdd(c *atomic.Int64, d int64) { c.Add(d) }
