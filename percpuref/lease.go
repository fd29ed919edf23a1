package percpuref

import (
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/percpuref/percpu"
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
// exactly one may move w from g to g+1. A Release does it with a
// compare-and-swap, which exactly one of them wins; only the winner Puts
// the reference.
//
// # Taking a token (Acquire)
//
// Each P has a leaseHome with a slab of tokens. Acquire, after its
// TryGetLive, takes the token at the home's cursor if it is free (or a
// later one), with the goroutine pinned to its P (procPin). Only the slab's
// P takes its tokens, so two takes never overlap. A take never races a
// Release of the same token either: a Release changes w only from the odd
// value of its Lease, and a take changes it only from an even one. When
// the tokens near the cursor are all held, the take gives the P a new slab,
// twice as large (up to leaseMaxSlab tokens); the old slab is not taken
// from again and lives as long as Leases point into it.
type leaseToken struct {
	w    atomic.Uint64 // the generation: odd held, even free
	home *leaseHome    // the P whose slab holds the token; never changes
}

// A leaseHome is a P's tokens, written only on its P, pinned.
type leaseHome struct {
	id int32 // the P id; -1 for leaseLoose
	// next is the address of the token to take next (the cursor), one of
	// toks (which keeps the slab alive: Go does not move heap objects).
	next atomic.Uintptr
	toks atomic.Pointer[leaseToken] // the current slab's first token
	mask atomic.Uint32              // len(toks)-1, a power of two minus one
	_    [percpu.CacheLinePad - 32]byte
}

// Slab sizes, in tokens (16 bytes each): a P starts with leaseMinSlab and
// doubles when it finds none free, up to leaseMaxSlab.
const (
	leaseMinSlab = 64
	leaseMaxSlab = 4096
	leaseProbes  = 16 // tokens a take looks at before it gives up a slab
)

// leaseMaxP bounds the P ids that have a home; a P beyond it (GOMAXPROCS
// above 1024) gets a token of its own, allocated, at every Acquire.
const leaseMaxP = 1024

// leaseHomes are the homes by P id, made on a P's first Acquire. A home is
// never replaced or freed.
var leaseHomes [leaseMaxP]atomic.Pointer[leaseHome]

// leaseLoose is the home of the tokens allocated for Ps beyond leaseMaxP.
var leaseLoose = leaseHome{id: -1}

// leaseMu serialises the making of homes.
var leaseMu sync.Mutex

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

// leaseHomeFor returns the home of P p, making it if it has none. It may
// allocate: the caller must not be pinned.
func leaseHomeFor(p int) *leaseHome {
	if h := leaseHomes[p].Load(); h != nil {
		return h
	}
	leaseMu.Lock()
	defer leaseMu.Unlock()
	if h := leaseHomes[p].Load(); h != nil {
		return h
	}
	h := &leaseHome{id: int32(p)}
	h.setSlab(newLeaseSlab(h, leaseMinSlab))
	leaseHomes[p].Store(h)
	return h
}

// setSlab makes toks h's slab, with the cursor at its first token. It runs
// on h's P, pinned, or before h is published.
func (h *leaseHome) setSlab(toks []leaseToken) {
	h.toks.Store(&toks[0])
	h.mask.Store(uint32(len(toks) - 1))
	h.next.Store(uintptr(unsafe.Pointer(&toks[0])))
}

// leaseTakeSlow takes a token for Acquire. It returns the token and its
// generation (odd).
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
		h := leaseHomes[p].Load()
		if h == nil {
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

// leaseAcquire takes a reference on the node's Ref r as TryGetLive does,
// and with it a token, returned with its generation. got false: the Ref is
// dying or released, and nothing was taken.
func leaseAcquire(r *Ref) (t *leaseToken, gen uint64, got bool) {
	if !r.TryGetLive() {
		return nil, 0, false
	}
	t, gen = leaseTakeSlow()
	return t, gen, true
}

// leaseRelease releases the Lease with generation gen on token t, whose
// reference is on the node's Ref r. The Release that moves t on from gen
// Puts the reference; any other is a second Release of the Lease, reported
// as r reports its own misuse (send: the process's handler, else a panic;
// a node's Ref has no handler of its own), with the count as Read returns
// it (exact once the value has been swapped out), which it did not change.
func leaseRelease(r *Ref, t *leaseToken, gen uint64) {
	if t.give(gen) {
		r.Put()
		return
	}
	r.report("Lease.Release", r.Read(), ErrLeaseReleased)
}

// give is a Release of the Lease with generation g on token t. It reports
// whether this Release won; false means the Lease was already released.
func (t *leaseToken) give(g uint64) bool {
	// w only grows, and equals g until the Lease's first Release: of two
	// Releases racing, one compare-and-swap wins and the other fails.
	return t.w.CompareAndSwap(g, g+1)
}
