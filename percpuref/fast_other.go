//go:build !amd64 || purego || race

package percpuref

// Without the assembly of fast_amd64.s, Get, Put, TryGet and TryGetLive
// are get, put and tryGet; the single-writer update is then
// fastpath.UpdateLocal's (assembly on arm64, Go for -tags purego, -race and
// other architectures).

func getFast(r *Ref)      { r.get(false) }
func putFast(r *Ref) bool { return r.put(false) }

func tryGetFast(r *Ref) bool     { return r.tryGet(false, false) }
func tryGetLiveFast(r *Ref) bool { return r.tryGet(false, true) }
