// Package percpu holds the per-architecture primitives that the rest of the
// module is built on: the P hint that picks a caller's shard and the shard
// update itself.
//
// Most users want the refcount in package
// github.com/percpuref/percpu/percpuref, or the striped counter in package
// github.com/percpuref/percpu/shard. This package is the seam where
// architecture-specific fast paths plug in: every primitive has a portable
// Go implementation, used for every GOARCH without a fast path and whenever
// the purego build tag or the race detector is on.
package percpu
