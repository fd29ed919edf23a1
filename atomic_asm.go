//go:build (amd64 || arm64) && !purego && !race

package percpu

import "sync/atomic"

// asmPath is true: updateExclusive is in atomic_$GOARCH.s, and Quiesce is
// the membarrier system call where the kernel has it.
const asmPath = true

// updateExclusive is UpdateLocal's body for the cell c, with plain loads and
// stores ordered as the protocol needs (atomic_amd64.s, atomic_arm64.s).
//
//go:noescape
func updateExclusive(c *atomic.Int64, state *atomic.Uint32, want uint32, delta int64) bool
