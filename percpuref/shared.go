package percpuref

import (
	"context"
	"sync"
	"sync/atomic"
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
// TryGetLive on its Ref; a Lease is that reference, with a token (lease.go)
// that lets exactly one Release of the Lease, or of any copy of it, drop
// the reference. Swap publishes a new node and then Kills the old one;
// Close publishes nil and Kills the last node. The Ref of a node is never
// Reinit, Resurrected or Exited, so each node has exactly one life.
//
// Why a Lease never sees a value whose release has run: a Lease exists only
// after a TryGetLive succeeded, and it holds that reference until its first
// Release; a second Release of it, or of a copy, drops nothing (its token
// has moved on), so no misuse of one Lease takes away another's reference.
// The node's release runs only when its Ref's count reaches zero, which
// cannot happen while any reference is held. TryGetLive itself never
// succeeds on a count of zero: in per-CPU mode the Shared's initial
// reference is still held, and in atomic mode it is an increment unless
// zero that also fails once the Ref is dying.
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
// An Acquire is an atomic load and a per-CPU TryGetLive, with the take of a
// token from the P's own slab (a plain load and store); a Release is the
// token's release and a per-CPU Put, while the node is current. On amd64
// with the assembly fast path (percpu.FastPath), each is one assembly
// routine, and a Release on the P that acquired the Lease releases the
// token with plain loads and stores as well, so the pair has no locked
// instruction. A Release on another P (the goroutine moved, or handed the
// Lease on) is a compare-and-swap, and the first one after a stretch of
// home Releases also pays a membarrier (a few microseconds), after which
// that P's own Releases are compare-and-swaps for a while (lease.go says
// how long). Elsewhere (other architectures, purego and race builds, the
// other fast paths) every Release is a compare-and-swap. After a Swap,
// Leases still held on the old node are counted exactly (atomic mode):
// releasing them is an atomic add on that node's count. Each node has its
// own Ref, and so its own per-CPU cells: a slot of 8 bytes per P in the
// shared per-P slabs (see Init), taken at every Swap and given back when
// the old node is killed. Swap also takes a mutex, and Kill walks the cells
// and makes a membarrier, so Swap costs O(GOMAXPROCS) and a few
// microseconds; it is meant for values that change rarely compared with how
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
// A Lease is one-shot: each Lease from a successful Acquire must be
// released exactly once. A Lease is a small value and may be copied; all
// copies are the same Lease, and releasing any one of them releases it. A
// second Release (of the same variable or of any copy, from any goroutine,
// even at the same time as the first) is reported at that Release, as a
// *MisuseError with Op "Lease.Release" wrapping ErrLeaseReleased and with
// Count the count of the value's Ref (which the misuse leaves as it was),
// the way a Ref reports its own misuse: to the handler set with
// SetMisuseHandler, or else with a panic in the goroutine that called it.
// It changes nothing else: it drops no reference, so the other Leases on
// the value, Swap, Close and the value's release are unaffected. This holds
// for a copy kept past any number of later Acquires, too. Value must not be
// called after Release.
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
	t   *leaseToken    // the one-shot state that every copy shares; nil in the zero Lease
	gen uint64         // t's generation when Acquire took it
}

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
	// Eager: a node is read from every P from the start, and its Acquire is
	// the per-CPU TryGetLive only once the Ref has cells (see Cost). An
	// adaptive node would count on its central word until two readers
	// collided, a compare-and-swap per Acquire and per Release.
	n.ref.Init(func() { s.releaseNode(n) }, Eager())
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
		if t, gen := leaseAcquire(&n.ref); t != nil {
			return Lease[T]{n, t, gen}, true
		}
		// n is being killed by the Swap or Close that replaced it, which
		// stored its replacement first: reload.
	}
}

// Value returns the leased value. It may be called any number of times
// until the Lease is released, and never after. On the zero Lease it
// returns the zero T.
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
// ErrLeaseReleased; see Lease) and drops nothing, so no other Lease, Swap
// or Close notices it. Release of the zero Lease does nothing.
func (l Lease[T]) Release() {
	if l.t != nil { // not the zero Lease
		leaseRelease(&l.n.ref, l.t, l.gen)
	}
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
