//go:build (amd64 || arm64) && !purego && !race && !linux

package percpu

import "runtime"

// Without membarrier the single-writer fast path cannot be made safe; the
// fetchadd (atomic fetch-and-add) path is used.
func barrierStatus() string { return "no membarrier on " + runtime.GOOS }

func barrier() {}
