// Package percpuref provides Ref, a reference count that stays cheap when
// many goroutines on many cores take and drop references at once, and that
// becomes an exact, kref-precise count when its owner kills it.
//
// It is Linux's percpu_ref with Go names. A live Ref is in per-CPU mode: Get
// and Put touch only a counter on the caller's P (its own cache line), and
// Put never releases, because the owner still holds the initial reference.
// A Ref takes those counters when it needs them: until two goroutines first
// collide on it, it counts on one word as an atomic.Int64 would, and costs
// what one does to create and kill (Lazy, the default; Eager takes the
// counters at New).
// When the owner is done it calls Kill: the Ref folds its per-CPU counters
// into one atomic count, drops the initial reference, and from then on
// behaves exactly as a kref: the Put that takes the count to zero runs
// release, once, in that goroutine.
//
// The typical life of a shared object:
//
//	obj.ref.Init(obj.free)      // count 1: the owner's reference
//	obj.ref.Get()               // before handing obj to another goroutine
//	go func() { defer obj.ref.Put(); use(obj) }()
//	...
//	obj.ref.Kill()              // end of life: drop the owner's reference
//	                            // obj.free runs when the last Put returns
//
// Misuse (more Puts than Gets, a Get after release, a second Kill, and so
// on) is reported as a *MisuseError wrapping one of the Err* sentinels: by
// default with a panic, or to a handler given with WithMisuseHandler or
// SetMisuseHandler. Release runs at most once per life of a Ref, whatever
// the misuse, and never before the count that the Ref can see reaches zero;
// but no count can tell an extra Put from the Put of a reference still
// held, so a holder whose reference another goroutine dropped twice may
// outlive the release (docs/semantics.md lists every misuse).
package percpuref
