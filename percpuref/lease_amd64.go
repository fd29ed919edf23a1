//go:build !purego && !race && !percpurefdebug

package percpuref

import (
	"unsafe"

	"github.com/percpuref/percpu"
)

// leaseAcquire and leaseRelease are Acquire's and Release's fast paths
// (lease_amd64.s): each finds the P once, as Get and Put do, and does both
// the per-CPU update of the node's Ref and the token's part (lease.go),
// which would otherwise each pay for finding the P and for a call: as much
// as the update itself. They do only what needs no Go: the per-CPU update
// of a Ref with cells, a take at the cursor, a home Release. Everything
// else they leave, by a jump, to the Go twins in lease.go, which take the
// same arguments: all of it whenever mOffP is 0 (the exclusive protocol is
// not in use, or the runtime layout is unknown). With the percpurefdebug
// tag they are not built: Get and Put must record their callers.

// leaseAcquire takes a reference on the node's Ref r as TryGetLive does,
// and with it a token, returned with its generation. A nil t: the Ref is
// dying or released, and nothing was taken. Its fast path takes the
// reference as TryGetLive's per-CPU fast path does, and the free token at
// the cursor of the P's home, or the one after it (which becomes the
// cursor). It jumps to leaseAcquireGo if the Ref is not per-CPU with a cell
// for this P (nothing done), and to leaseTokenGo if the P has no home yet
// or neither token is free (the reference taken).
//
//go:noescape
func leaseAcquire(r *Ref) (t *leaseToken, gen uint64)

// leaseRelease releases the Lease with generation gen on token t, whose
// reference is on the node's Ref r, or reports that it was released
// already. Its fast path is a home Release (H1 to H5 in lease.go) and, as
// it won, Put's per-CPU fast path. It jumps to leaseReleaseGo if the caller
// is not on t's home P, the home is not biased, or t is no longer at gen
// (nothing done), and to leasePutGo if r is not per-CPU with a cell for
// this P (the token released).
//
//go:noescape
func leaseRelease(r *Ref, t *leaseToken, gen uint64)

// leaseBiasable reports whether homes may be biased: the assembly runs
// (mOffP is set only under the exclusive protocol, with a known runtime
// layout), and fastpath.Quiesce is a membarrier.
func leaseBiasable() bool { return mOffP != 0 }

// The Go functions the assembly jumps to, besides leaseAcquireGo and
// leaseReleaseGo. (The blank variable tells tools that look only at Go code
// that they are used.)
var _ = []any{leaseAcquireGo, leaseTokenGo, leaseReleaseGo, leasePutGo}

// leaseTokenGo completes an Acquire whose reference the assembly took but
// for which it found no token.
func leaseTokenGo(*Ref) (t *leaseToken, gen uint64) { return leaseTakeSlow() }

// leasePutGo completes a Release whose token the assembly released, but
// whose Put it left to Go (r is not per-CPU with a cell for this P).
func leasePutGo(r *Ref, _ *leaseToken, _ uint64) { r.Put() }

// The offsets lease_amd64.s reads at; each line fails to compile if a field
// moves.
var (
	_ = [1]struct{}{}[unsafe.Offsetof(leaseToken{}.w)]
	_ = [1]struct{}{}[unsafe.Offsetof(leaseToken{}.home)-8]
	_ = [1]struct{}{}[unsafe.Sizeof(leaseToken{})-16]
	_ = [1]struct{}{}[unsafe.Offsetof(leaseHome{}.busy)]
	_ = [1]struct{}{}[unsafe.Offsetof(leaseHome{}.mode)-8]
	_ = [1]struct{}{}[unsafe.Offsetof(leaseHome{}.next)-16]
	_ = [1]struct{}{}[unsafe.Offsetof(leaseHome{}.toks)-24]
	_ = [1]struct{}{}[unsafe.Offsetof(leaseHome{}.mask)-32]
	_ = [1]struct{}{}[unsafe.Offsetof(leaseHome{}.casers)-percpu.CacheLinePad]
	_ = [1]struct{}{}[unsafe.Sizeof(leaseHome{})-256]
)

// The constants lease_amd64.s spells out; each line fails to compile if one
// changes.
const (
	_ = uint(leaseBiased - 1)
	_ = uint(1 - leaseBiased)
	_ = uint(leaseMaxP - 1024)
	_ = uint(1024 - leaseMaxP)
)
