package percpuref

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/percpuref/percpu"
)

// Shared is a read-mostly shared value, Go's version of folly's
// ReadMostlySharedPtr: readers take a Lease on the current value at
// per-CPU cost, a writer Swaps in a new value, and each value's release
// function runs exactly once, after the last Lease on that value has been
// released. Make one with NewShared; a zero Shared behaves as a closed one.
//
// # How it works
//
// The current value lives in a node with its own Ref, published through an
// atomic.Pointer. The Shared holds each node's initial reference for as long
// as the node is current. Acquire loads the current node and calls
// TryGetLive on its Ref; a Lease is that reference, with a one-shot token
// (see leaseToken) that lets exactly one Release of the Lease, or of any
// copy of it, drop the reference. Swap publishes a new node and then Kills
// the old one; Close publishes nil and Kills the last node. The Ref of a
// node is never Reinit, Resurrected or Exited, so each node has exactly one
// life.
//
// Why a Lease never sees a value whose release has run: a Lease exists only
// after a TryGetLive succeeded, and it holds that reference until its first
// Release; a second Release of it or of a copy drops nothing (leaseToken),
// so no misuse of one Lease can take away another's reference. The node's
// release runs only when its Ref's count reaches zero, which cannot happen
// while any reference is held. TryGetLive itself never succeeds on a count
// of zero: in per-CPU mode the Shared's initial reference is still held,
// and in atomic mode it is an increment unless zero that also fails once
// the Ref is dying.
//
// Why release runs exactly once per value: each node leaves the current
// position exactly once, in the Swap or Close that replaced it (both under
// the Shared's mutex, so exactly one of them sees it as current), and that
// call Kills it once. A Ref runs release once per life, when its count
// reaches zero after Kill. Values passed to a Swap after Close never become
// current: Swap releases them at once, itself.
//
// Acquire racing Swap or Close: Swap stores the new node before it Kills
// the old one. An Acquire that loaded the old node either gets its reference
// before the Kill (a valid Lease on the old value, which stays alive until
// that Lease is released) or fails TryGetLive because the Kill has begun;
// the Kill began after the store, so reloading the pointer yields a newer
// node (or nil after Close, and Acquire reports false). Nodes are never
// reused, so the reload cannot find the failed node again (no ABA), and each
// retry is caused by a Swap or Close that completed its store: Acquire
// retries only while writers keep swapping. Once Swap returns, every new
// Acquire sees the new value or a later one; once Close has started its
// store, every new Acquire fails.
//
// # Cost
//
// An Acquire is an atomic load, a per-CPU TryGetLive and a token taken from
// a sync.Pool; a Release is a compare-and-swap on that token (a line the P
// already holds, in the common case), the token's return to the pool and a
// per-CPU Put, while the node is current. The token is what makes a second
// Release detectable, and it is most of the cost: the pool's Get and Put
// and one locked instruction more than double the CPU time of an
// uncontended Acquire and Release pair (BenchmarkShared: about 8 ns without
// the token and 20 ns with it on a 2-vCPU AMD EPYC guest). It allocates
// nothing once the pool is warm and, unlike a shared count, adds no cache
// line that readers on different Ps write in turn.
//
// After a Swap, Leases still held on the old node are counted exactly
// (atomic mode): releasing them is an atomic add on that node's count. Each
// node has its own Ref, and so its own per-CPU shards: 128 bytes per shard
// (GOMAXPROCS shards, rounded up to a power of two, by default; see the
// shard package), allocated at every Swap and freed when the old node is
// killed. Swap also takes a mutex and Kill walks the shards, so Swap costs
// O(shards); it is meant for values that change rarely compared with how
// often they are read.
//
// # Release
//
// release (which may be nil) runs synchronously in the goroutine that drops
// the value's last reference: a Lease's Release, or the Swap or Close that
// retired the value if no Lease was held. It must not call Swap or Close on
// the same Shared, directly or by waiting for a goroutine that does.
type Shared[T any] struct {
	cur     atomic.Pointer[sharedNode[T]]
	release func(T)

	mu      sync.Mutex    // serialises Swap and Close; guards the fields below
	closed  bool          // Close has started
	pending int           // nodes whose release has not returned
	drained chan struct{} // closed when closed && pending == 0
}

type sharedNode[T any] struct {
	ref Ref
	v   T
}

// A Lease is a reference to the value that was current when Acquire
// returned it. The value stays valid (its release does not run) until the
// Lease is released.
//
// A Lease is one-shot: each Lease from a successful Acquire must be released
// exactly once. A Lease is a small value and may be copied; all copies are
// the same Lease, and releasing any one of them releases it. A second
// Release (of the same variable or of any copy, from any goroutine, even
// concurrently with the first) is misuse, and it is reported at that
// Release, as a *MisuseError with Op "Lease.Release" wrapping ErrUnderflow
// (one Acquire, two Releases) and with Count the count of the value's Ref
// (which the misuse leaves as it was), the way a Ref reports its own misuse:
// with a panic in the goroutine that called it, or to the handler set with
// SetMisuseHandler. It changes nothing else: it does not drop a reference,
// so the other Leases on the value, the writer's Swap and Close, and the
// value's release are unaffected. Value must not be called after Release.
//
// The zero Lease, which Acquire returns with false, holds nothing: its
// Release does nothing and its Value returns the zero T. So
//
//	l, ok := s.Acquire()
//	defer l.Release()
//	if !ok {
//		return
//	}
//
// is safe.
type Lease[T any] struct {
	n   *sharedNode[T] // nil in the zero Lease
	tok *leaseToken    // the one-shot state, shared by all copies; nil in the zero Lease
	gen uint64         // tok's generation when Acquire took it
}

// A leaseToken is the one-shot state of a Lease, held in memory that every
// copy of the Lease points to. Allocating one per Acquire would cost an
// allocation on the read path, so tokens are recycled through leaseTokens,
// and gen tells the uses of one token apart.
//
// The protocol. Acquire takes a token t from the pool after its TryGetLive
// succeeded and reads g = t.gen into the Lease. Release (of the Lease or of
// any copy) does t.gen.CompareAndSwap(g, g+1); the one call whose CAS
// succeeds Puts the node's reference and returns t to the pool; a call whose
// CAS fails reports misuse and touches neither the node's Ref nor the pool.
//
// Why there is exactly one Put per successful Acquire, never zero or two:
//
//   - Each (t, g) pair is handed out by exactly one Acquire. sync.Pool gives
//     each Put token to at most one Get, and t is Put only by the Release
//     whose CAS succeeded, once; so t is in the pool at most once at a time,
//     and is owned by at most one Acquire's Lease at a time: from the Get to
//     the successful CAS. A token enters the pool only right after a
//     successful CAS (or new, with gen 0, never handed out), so the g the next owner reads is the one that
//     CAS stored, which no earlier owner read (each read an older value:
//     gen only ever increases, by 1, and only by a successful CAS). The pool
//     orders the CAS before the next owner's Load (a Put synchronizes
//     before the Get that returns the same value).
//   - The CAS from g succeeds at most once: after it, t.gen > g for good, so
//     every later CAS from g, by a copy of the same Lease, fails. Two copies
//     released at once race on one CAS, and exactly one wins. Hence at most
//     one Put per Acquire.
//   - The first Release of a Lease finds t.gen == g: while the Lease is
//     unreleased its owner holds t (it is not in the pool, so no one else
//     can read or advance its generation), and no copy with another g can
//     succeed on it (their g is older). Hence at least one Put.
//   - No ABA: gen is 64 bits and advances by one per Lease on that token;
//     returning to an old g would take 2^64 Releases of one token (centuries
//     at one per nanosecond). A stale copy never touches freed memory: it
//     holds a pointer to t, which keeps t alive (the pool may drop a token
//     at a GC, but then it is simply never handed out again; a new token
//     starts at gen 0 and no Lease points to it).
//
// A stale copy's failed CAS reads only t; it never reads the node's count
// for its decision, so neither the node's Ref nor the Lease that now owns t
// can be disturbed by it. The token is padded to a cache line so that the
// CASes of leases on different Ps do not contend for one line.
type leaseToken struct {
	gen atomic.Uint64
	_   [percpu.CacheLinePad - 8]byte
}

// leaseTokens recycles lease tokens for every Shared (a token carries no
// per-Shared state). sync.Pool keeps a per-P cache, so an Acquire and
// Release on one P usually reuse the same token on that P's cache line.
var leaseTokens = sync.Pool{New: func() any { return new(leaseToken) }}

// NewShared returns a Shared whose current value is v. release, which may be
// nil, is called once for every value that the Shared held (v and every
// value later passed to Swap), after the last Lease on it is released.
func NewShared[T any](v T, release func(T)) *Shared[T] {
	s := &Shared[T]{release: release, drained: make(chan struct{})}
	s.mu.Lock()
	s.cur.Store(s.newNodeLocked(v))
	s.mu.Unlock()
	return s
}

// newNodeLocked makes a node for v whose Ref, when released, calls
// s.release and counts the node as done. s.mu must be held.
func (s *Shared[T]) newNodeLocked(v T) *sharedNode[T] {
	n := &sharedNode[T]{v: v}
	n.ref.Init(func() { s.releaseNode(n) })
	s.pending++
	return n
}

// releaseNode is the release function of a node's Ref.
func (s *Shared[T]) releaseNode(n *sharedNode[T]) {
	if s.release != nil {
		s.release(n.v)
	}
	var zero T
	n.v = zero // let the value be collected even if stale pointers to n remain
	s.mu.Lock()
	s.pending--
	if s.closed && s.pending == 0 {
		close(s.drained)
	}
	s.mu.Unlock()
}

// Acquire takes a Lease on the current value. It reports false, with a
// zero Lease, once Close has been called (or for a zero Shared).
func (s *Shared[T]) Acquire() (Lease[T], bool) {
	for {
		n := s.cur.Load()
		if n == nil {
			return Lease[T]{}, false
		}
		if n.ref.TryGetLive() {
			tok := leaseTokens.Get().(*leaseToken)
			return Lease[T]{n: n, tok: tok, gen: tok.gen.Load()}, true
		}
		// n is being killed by the Swap or Close that replaced it, which
		// stored its replacement first: reload.
	}
}

// Value returns the leased value. It may be called any number of times
// until the Lease is released, and never after. On the zero Lease (from an
// Acquire that reported false) it returns the zero T.
func (l Lease[T]) Value() T {
	if l.n == nil {
		var zero T
		return zero
	}
	return l.n.v
}

// Release drops the Lease. If the value has been swapped out and this was
// its last Lease, its release function runs before Release returns.
//
// A Lease is released once: a second Release of it, or of any copy of it,
// is reported as misuse (a *MisuseError with Op "Lease.Release" wrapping
// ErrUnderflow; see Lease) and drops nothing, so no other Lease, Swap or
// Close notices it. Release of the zero Lease does nothing.
func (l Lease[T]) Release() {
	if l.tok == nil {
		return // the zero Lease
	}
	if !l.tok.gen.CompareAndSwap(l.gen, l.gen+1) {
		l.releasedTwice()
		return
	}
	// This call won the Lease's one CAS: it alone drops the reference.
	leaseTokens.Put(l.tok)
	l.n.ref.Put()
}

// releasedTwice reports a Release of a Lease that was already released as
// the node's Ref reports its own misuse (report: its handler, else
// SetMisuseHandler's, else a panic). Count is the node's count as Read
// returns it (exact once the value has been swapped out), which the misuse
// did not change.
//
//go:noinline
func (l Lease[T]) releasedTwice() {
	l.n.ref.report("Lease.Release", l.n.ref.Read(), ErrUnderflow)
}

// Swap makes v the current value. The value it replaces is released once
// its last Lease is released (at once, inside Swap, if none is held). Swaps
// are serialised; when Swap returns every new Acquire sees v or a later
// value. Swap after Close does not publish v: it releases v at once.
func (s *Shared[T]) Swap(v T) {
	s.mu.Lock()
	if s.closed || s.drained == nil { // closed, or the zero Shared
		s.mu.Unlock()
		if s.release != nil {
			s.release(v)
		}
		return
	}
	old := s.cur.Swap(s.newNodeLocked(v))
	s.mu.Unlock()
	// Outside mu: release may run here, and releaseNode takes mu.
	old.ref.Kill()
}

// Close stops new Leases (every later Acquire reports false), drops the
// Shared's reference to the current value, and waits until every value the
// Shared held has been released, that is, until every outstanding Lease has
// been released. It returns nil when they all have, or ctx.Err() if ctx ends
// first; the values are still released later, as their Leases are dropped.
// Close may be called more than once, and from several goroutines: each
// call waits. It must not be called from a release function.
func (s *Shared[T]) Close(ctx context.Context) error {
	s.mu.Lock()
	var last *sharedNode[T]
	if !s.closed {
		s.closed = true
		if s.drained == nil { // the zero Shared
			s.drained = make(chan struct{})
		}
		last = s.cur.Swap(nil)
		if s.pending == 0 {
			close(s.drained)
		}
	}
	drained := s.drained
	s.mu.Unlock()
	if last != nil {
		last.ref.Kill()
	}
	select {
	case <-drained:
		return nil
	default:
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
