//go:build !amd64 || purego || race

package callfloor

import "sync/atomic"

// AsmAdd is GoAdd where no assembly is built: there the Ref's own fast path
// is Go, not an assembly call.
func AsmAdd(c *atomic.Int64, d int64) { GoAdd(c, d) }
