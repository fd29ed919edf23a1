package percpuref

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/percpuref/percpu"
	"github.com/percpuref/percpu/internal/fastpath"
)

// Lease tokens: what makes a Lease one-shot.
//
// A Lease is a small value, and a copy of it is the same Lease. What tells
// its first Release from a second one (of the same variable or of a copy)
// must therefore live outside the Lease, in memory that every copy points
// to: a token. A Lease holds a pointer to its token and the token's
// generation when Acquire took it; the first Release moves the generation
// on, and every later Release, finding another generation, knows it is not
// the first. Tokens are recycled (an allocation per Acquire would cost more
// than the rest of it), so the generation also tells one Lease on a token
// from the next.
//
// # Tokens and generations
//
// A token is a word w. Odd values are held: w is the generation of the one
// Lease that holds the token. Even values are free. Every change of w adds
// one to the value it had: a take (free f to held f+1) or a release (held g
// to free g+1). So w only grows, each odd value is handed to one Lease only,
// and a Lease with generation g is unreleased exactly while w == g. Once w
// has moved past g, a Release with g is a second one: it is reported and
// changes nothing. That includes a stale copy of a Lease whose token a later
// Acquire has taken again (w is then g+2 or more: no ABA, as w is 64 bits
// and would need 2^63 Leases on one token to come back). A copy kept forever
// keeps its token's slab in memory, and nothing else.
//
// The one thing to arbitrate is two Releases of one Lease that run at once:
// exactly one may move w from g to g+1. A compare-and-swap does that, but a
// locked instruction costs as much as the rest of an Acquire and Release
// pair on the per-CPU path, which has none. So the common case, the Release
// on the P whose slab holds the token (its home), uses plain loads and
// stores, and every other Release uses a compare-and-swap, after making
// sure, once per stretch of such Releases and with a membarrier, that no
// home Release is in its plain section. This is the exclusive protocol's
// busy flag and membarrier (toAtomicLocked), turned around: the plain side
// writes the word that the other side arbitrates on.
//
// # Taking a token (Acquire)
//
// Each P has a leaseHome with a slab of tokens. Acquire, after its
// TryGetLive, takes the token at the home's cursor if it is free (or the
// next one), with a plain load and store, on its P: in assembly
// (leaseAcquire), which the runtime neither preempts nor moves, or else with
// the goroutine pinned (procPin). Only the slab's P takes its tokens, so
// two takes never overlap. A take never races a Release of the same token
// either: a Release changes w only from the odd value of its Lease, and a
// take changes it only from an even one. When the tokens near the cursor are
// all held, the slow path looks further, and when it finds none it gives
// the P a new slab, twice as large (up to leaseMaxSlab tokens); the old slab
// is not taken from again and lives as long as Leases point into it.
//
// # Releasing at home (leaseRelease, in assembly)
//
// The home has a mode: biased, revoking or unbiased. Its P, and only its P,
// writes busy, a sequence number that is odd while a home Release runs. A
// home Release, on the home's P, in assembly:
//
//	H1  busy = b+1              // odd
//	H2  if mode != biased { busy = b+2; take the compare-and-swap path }
//	H3  if w != g { busy = b+2; report (the Lease was released) }
//	H4  w = g+1                 // released
//	H5  busy = b+2
//
// Every other Release (on another P, or at home while the mode is not
// biased), in Go (leaseToken.give):
//
//	R0  if w != g: report
//	R1  casers++
//	R2  while mode != unbiased: if it is biased, revoke it: mode biased ->
//	    revoking (compare-and-swap, so one goroutine revokes), membarrier
//	    (fastpath.Quiesce), wait until busy is even or has changed, mode =
//	    unbiased; if it is revoking, wait for unbiased
//	R3  w: g -> g+1 (compare-and-swap); report if it fails
//	R4  casers--
//
// Why a home Release H and a compare-and-swap Release R of the same Lease
// never both win, and H's plain store at H4 never lands on a value that R
// stored. Let V be the revocation that ended the biased stretch in which H
// read biased at H2. R swaps only after reading unbiased at R2, and that read
// comes after V: during the stretch the mode is biased, and the unbiased from
// before the stretch began is out of R's reach, since R counted itself in
// casers (R1) before its read, and a rebias that finds casers non-zero is
// undone before any home Release runs (see below). V's membarrier puts a
// full barrier into H's thread at some instruction X. Had X come before
// H1, H2 would have come after X and read V's revoking, or a later mode,
// not biased. So X follows H1, and H1's store is visible when the
// membarrier returns; V then reads busy and waits while it holds H1's odd
// value, so it leaves the wait only once H5's store is visible, and with it
// H4's (x86 makes a thread's stores visible in order). R's swap comes after
// that: it finds w at g+1 or beyond, and fails. Two home Releases never
// overlap (one P, and the assembly runs to its end), and compare-and-swaps
// arbitrate among themselves. So exactly one Release of a Lease moves w on
// from g, and only that one Puts the reference. model/lease.pml checks
// this on a model of x86-TSO, with the mutants that break it.
//
// H's loads at H2 and H3 may pass its store at H1 (x86's one reordering):
// that is the reordering the membarrier covers, as in the exclusive
// protocol. The wait at V is bounded: busy is odd only inside the assembly,
// a dozen instructions.
//
// # Back to biased (rebias)
//
// After a revocation the home's own Releases pay the compare-and-swap too.
// Its P turns the mode back to biased, pinned (so that no home Release runs
// meanwhile), after a number of its own compare-and-swap Releases: mode =
// biased (an atomic store, a full barrier), then if casers is not zero, back
// to unbiased (a compare-and-swap from biased; if a revoker got there first it
// finishes its revocation). A Release that passed R1 before the rebias read
// casers is seen there, so the rebias is undone before any home Release
// runs; one that passes R1 after it reads biased at R2 (casers' increment
// and the mode store are both full barriers) and revokes. The number grows
// while revocations come soon after rebiases (leaseRebiasAfter), so that a
// P whose Leases are often released elsewhere pays few membarriers.
//
// Where the assembly is not built, or the exclusive protocol is not in use
// (no membarrier, an unknown runtime layout, a purego or race build), homes
// are unbiased from the start and stay so: every Release is a
// compare-and-swap, and takes are pinned Go code with sequentially
// consistent atomics.
//
// Acquire and Release call leaseAcquire and leaseRelease: on amd64 the
// assembly (lease_amd64.s), which does the node Ref's per-CPU update and
// the token's part with one look-up of the P, and jumps to the Go twins
// below (leaseAcquireGo, leaseReleaseGo) for everything else; elsewhere
// the Go twins themselves.
type leaseToken struct {
	w    atomic.Uint64 // the generation: odd held, even free
	home *leaseHome    // the P whose slab holds the token; never changes
}

// Modes of a leaseHome.
const (
	leaseUnbiased = 0 // every Release is a compare-and-swap
	leaseBiased   = 1 // home Releases are plain
	leaseRevoking = 2 // a revoker is waiting out home Releases
)

// A leaseHome is a P's tokens and the state of its home Releases. The
// first line is written only on its P (mode also by revokers, rarely); the
// second by Releases elsewhere. The assembly reads busy, mode, next, toks
// and mask at fixed offsets (checked in lease_amd64.go), and writes busy
// and next.
type leaseHome struct {
	busy atomic.Uint64 // odd during a home Release; written only on the P (in assembly)
	mode atomic.Uint32 // leaseUnbiased, leaseBiased or leaseRevoking
	id   int32         // the P id; -1 for leaseLoose
	// next is the address of the token to take next (the cursor), one of
	// toks. An address, not a pointer, so that the assembly may store it
	// without a write barrier: toks keeps the slab alive, and Go does not
	// move heap objects.
	next atomic.Uintptr
	toks atomic.Pointer[leaseToken] // the current slab's first token
	mask atomic.Uint32              // len(toks)-1, a power of two minus one

	// On the P only, pinned: the rebias schedule (see rebias).
	homeSwaps   atomic.Uint32 // compare-and-swap Releases at home since the last rebias try
	rebiasAfter atomic.Uint32 // how many of them to wait for
	biasedAt    atomic.Int64  // leaseClock when the mode last became biased
	_           [percpu.CacheLinePad - 56]byte

	casers    atomic.Int64 // Releases between R1 and R4
	revokedAt atomic.Int64 // leaseClock when a revocation last ended
	_         [percpu.CacheLinePad - 16]byte
}

// Slab sizes, in tokens (16 bytes each): a P starts with leaseMinSlab and
// doubles when it finds none free, up to leaseMaxSlab.
const (
	leaseMinSlab = 64
	leaseMaxSlab = 4096
	leaseProbes  = 16 // tokens the slow path looks at before it gives up a slab
)

// leaseMaxP bounds the P ids that have a home; a P beyond it (GOMAXPROCS
// above 1024) gets a token of its own, allocated, at every Acquire.
const leaseMaxP = 1024

// leaseHomes are the homes by P id, each made on its P's first Acquire (a
// home is made once its next is set). An array, not pointers, so that the
// assembly finds a P's home without a load: it is leaseHomes + id<<8. Its
// 256 KiB are untouched, and so not resident, for Ps that never Acquire.
var leaseHomes [leaseMaxP]leaseHome

// leaseLoose is the home of the tokens allocated for Ps beyond leaseMaxP:
// unbiased for good, and the home of no P.
var leaseLoose = leaseHome{id: -1}

// leaseMu serialises the making of homes.
var leaseMu sync.Mutex

// leaseEpoch and leaseClock give the rebias schedule a monotonic clock.
var leaseEpoch = time.Now()

func leaseClock() int64 { return int64(time.Since(leaseEpoch)) }

// The rebias schedule: a home waits for leaseRebiasMin of its own
// compare-and-swap Releases before it tries to become biased again. When
// the biased stretch before the last revocation lasted less than
// leaseBiasLife, the wait doubles, up to leaseRebiasMax; a longer stretch
// resets it. A revocation costs a membarrier (a few microseconds), so a P
// pays for at most one per leaseBiasLife, or per leaseRebiasMax of its
// Releases.
const (
	leaseRebiasMin = 64
	leaseRebiasMax = 1 << 20
	leaseBiasLife  = int64(time.Millisecond)
)

//go:linkname leasePin runtime.procPin
func leasePin() int

//go:linkname leaseUnpin runtime.procUnpin
func leaseUnpin()

// newLeaseSlab makes n free tokens whose home is h.
func newLeaseSlab(h *leaseHome, n int) []leaseToken {
	toks := make([]leaseToken, n)
	for i := range toks {
		toks[i].home = h
	}
	return toks
}

// leaseHomeFor makes the home of P p, if it is not made yet. It may
// allocate: the caller must not be pinned.
func leaseHomeFor(p int) {
	h := &leaseHomes[p]
	leaseMu.Lock()
	defer leaseMu.Unlock()
	if h.made() {
		return
	}
	h.id = int32(p)
	h.rebiasAfter.Store(leaseRebiasMin)
	if leaseBiasable() {
		h.biasedAt.Store(leaseClock())
		h.mode.Store(leaseBiased)
	}
	h.setSlab(newLeaseSlab(h, leaseMinSlab)) // last: it publishes the home
}

// made reports whether h has been made (leaseHomeFor).
func (h *leaseHome) made() bool { return h.next.Load() != 0 }

// setSlab makes toks h's slab, with the cursor at its first token. It runs
// on h's P, pinned, or, to make h, before h is published: the store of next
// comes last, and publishes it.
func (h *leaseHome) setSlab(toks []leaseToken) {
	h.toks.Store(&toks[0])
	h.mask.Store(uint32(len(toks) - 1))
	h.next.Store(uintptr(unsafe.Pointer(&toks[0])))
}

// leaseTakeSlow takes a token for Acquire when the assembly did not: the P has
// no home yet, or no free token near its cursor, or the assembly is not in
// use. It returns the token and its generation (odd).
func leaseTakeSlow() (*leaseToken, uint64) {
	var (
		fresh []leaseToken // a new slab, made unpinned
		full  *leaseToken  // the slab it replaces
	)
	for {
		p := leasePin()
		if p >= leaseMaxP {
			leaseUnpin()
			t := &leaseToken{home: &leaseLoose}
			t.w.Store(1)
			return t, 1
		}
		h := &leaseHomes[p]
		if !h.made() {
			leaseUnpin()
			leaseHomeFor(p)
			continue
		}
		// Pinned on h's P: no other take of h's tokens runs (see
		// leaseToken), so a token seen free stays free until stored held.
		if fresh != nil && h.toks.Load() == full {
			// Still the slab that was found full (only this P changes it),
			// so this goroutine is on the P fresh was made for.
			h.setSlab(fresh)
		}
		fresh = nil
		mask := h.mask.Load()
		toks := unsafe.Slice(h.toks.Load(), mask+1)
		c := uint32((h.next.Load() - uintptr(unsafe.Pointer(&toks[0]))) / unsafe.Sizeof(toks[0]))
		for k := uint32(0); k < leaseProbes && k <= mask; k++ {
			t := &toks[(c+k)&mask]
			if v := t.w.Load(); v&1 == 0 {
				t.w.Store(v + 1)
				h.next.Store(uintptr(unsafe.Pointer(t)))
				leaseUnpin()
				return t, v + 1
			}
		}
		full = &toks[0]
		leaseUnpin()
		// No free token near the cursor: a new slab, made unpinned and
		// installed on the next turn if the full one is still current.
		fresh = newLeaseSlab(h, min(2*int(mask+1), leaseMaxSlab))
	}
}

// leaseAcquireGo is leaseAcquire in Go, and what the assembly leaves to
// Go: TryGetLive on the node's Ref r, and if it succeeds a token from
// leaseTakeSlow; a nil t if it fails.
func leaseAcquireGo(r *Ref) (t *leaseToken, gen uint64) {
	if !r.TryGetLive() {
		return nil, 0
	}
	return leaseTakeSlow()
}

// leaseReleaseGo is leaseRelease in Go, and what the assembly leaves to
// Go: a Release of the Lease with generation gen on token t, whose
// reference is on the node's Ref r. The Release that moves t on from gen
// Puts the reference; any other is a second Release of the Lease, reported
// as r reports its own misuse (send: the process's handler, else a panic;
// a node's Ref has no handler of its own), with the count as Read returns
// it (exact once the value has been swapped out), which it did not change.
func leaseReleaseGo(r *Ref, t *leaseToken, gen uint64) {
	if t.give(gen) {
		r.Put()
		return
	}
	r.report("Lease.Release", r.Read(), ErrLeaseReleased)
}

// give is a Release of the Lease with generation g on token t that the
// assembly did not do: on another P than t's home, or at home while the
// mode is not biased, or in a build without the assembly. It reports
// whether this Release won; false means the Lease was already released.
func (t *leaseToken) give(g uint64) bool {
	h := t.home
	// R0: w only grows, and equals g until the Lease's first Release.
	if t.w.Load() != g {
		return false
	}
	h.casers.Add(1) // R1
	for {           // R2
		m := h.mode.Load()
		if m == leaseUnbiased {
			break
		}
		if m == leaseBiased && h.mode.CompareAndSwap(leaseBiased, leaseRevoking) {
			h.revoke()
			break
		}
		if m == leaseRevoking {
			runtime.Gosched() // another Release is revoking: it ends soon
		}
	}
	won := t.w.CompareAndSwap(g, g+1) // R3
	h.casers.Add(-1)                  // R4
	if leaseBiasable() {
		h.rebias()
	}
	return won
}

// revoke ends h's biased mode, which the caller has just turned to
// leaseRevoking: once it returns no home Release is in its plain section,
// and every later one sees that the mode is not biased.
func (h *leaseHome) revoke() {
	fastpath.Quiesce()
	if b := h.busy.Load(); b&1 != 0 {
		// A home Release is between H1 and H5: its store H4, if it makes
		// one, is visible once busy has moved on.
		for h.busy.Load() == b {
			runtime.Gosched()
		}
	}
	h.revokedAt.Store(leaseClock())
	h.mode.Store(leaseUnbiased)
}

// rebias counts a compare-and-swap Release made on h's own P while h is
// unbiased, and after enough of them makes h biased again (see the type's
// comment). It does nothing on another P.
func (h *leaseHome) rebias() {
	p := leasePin()
	if p != int(h.id) || h.mode.Load() != leaseUnbiased {
		leaseUnpin()
		return
	}
	wait := h.rebiasAfter.Load()
	if h.homeSwaps.Add(1) < wait {
		leaseUnpin()
		return
	}
	h.homeSwaps.Store(0)
	now := leaseClock()
	if h.revokedAt.Load()-h.biasedAt.Load() < leaseBiasLife {
		h.rebiasAfter.Store(min(2*wait, leaseRebiasMax))
	} else {
		h.rebiasAfter.Store(leaseRebiasMin)
	}
	h.biasedAt.Store(now)
	h.mode.Store(leaseBiased) // a full barrier: before the load of casers
	if h.casers.Load() != 0 {
		// A Release passed R1 before the store: undo it, unless that
		// Release has begun revoking already (it then finishes; no home
		// Release runs until this goroutine unpins, so busy is even).
		h.mode.CompareAndSwap(leaseBiased, leaseUnbiased)
	}
	leaseUnpin()
}
