//go:build (amd64 || arm64) && !purego && !race && !linux

package percpu

// Without membarrier the single-writer fast path cannot be made safe; the
// shared (atomic add) path is used.
func barrierReady() bool { return false }

func barrier() {}
