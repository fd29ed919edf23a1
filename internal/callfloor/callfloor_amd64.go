//go:build !purego && !race

package callfloor

import "sync/atomic"

// AsmAdd is c.Add(d) as one LOCK XADDQ in an assembly function of no frame
// (callfloor_amd64.s), called as percpuref's getFast and putFast are.
//
//go:noescape
func AsmAdd(c *atomic.Int64, d int64)
