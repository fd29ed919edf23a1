// Package percpu holds the per-architecture primitives that the rest of the
// module is built on, and tells which of them this process runs: FastPath
// names the fast path chosen at start (the assembly update of per-P cells,
// its procPin tier, or atomic adds) and FastPathReason says why, when it is
// not the assembly one. Hint returns the caller's P id, a good shard index,
// and CacheLineSize the CPU's cache line.
//
// Most users want the refcount in package
// github.com/percpuref/percpu/percpuref, or the striped counter in package
// github.com/percpuref/percpu/shard. The primitives themselves (the cell
// updates, the memory barrier, the slot arena) write raw memory, so they are
// not exported: the module's own packages reach them through
// internal/fastpath. Every primitive has a portable Go implementation, used
// for every GOARCH without a fast path and whenever the purego build tag or
// the race detector is on.
package percpu
