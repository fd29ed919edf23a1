//go:build !amd64 || purego || race || percpurefdebug

package percpuref

// Without the assembly, Acquire and Release take the Go paths: TryGetLive
// and leaseTakeSlow, a compare-and-swap (leaseToken.give) and a Put. Homes
// are never biased.

func leaseAcquire(r *Ref) (*leaseToken, uint64)      { return leaseAcquireGo(r) }
func leaseRelease(r *Ref, t *leaseToken, gen uint64) { leaseReleaseGo(r, t, gen) }
func leaseBiasable() bool                            { return false }
