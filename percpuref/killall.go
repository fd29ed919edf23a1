package percpuref

import (
	"math/bits"

	"github.com/percpuref/percpu/internal/fastpath"
)

// KillAll kills every Ref in refs, as Kill does each, and has them share
// the wait that makes a Kill of a Ref with cells cost microseconds: one
// membarrier serves a batch of up to 64 Refs where Kill one after another
// would make (or wait for) one each. Use it where many Refs die together,
// as when a cache or a pool shuts down.
//
// Each Ref is killed as Kill kills it: made dying, switched to atomic mode
// with its count exact, and its initial reference dropped. A misused Ref
// (dying already, released, exited, or never set up) is reported as Kill
// reports it and left as Kill leaves it; a Ref that appears twice is killed
// once, and its second entry reported as a second Kill is (ErrKilled).
//
// What differs from Kill in turn is when user code runs: KillAll kills
// every Ref of refs first, and only then, in the calling goroutine and in
// the order of refs, runs each release that came due (a Ref whose initial
// reference was the last) and makes each misuse report. So a release sees
// every Ref of refs killed: one that calls Resurrect, Reinit or Exit on
// another Ref of refs acts on that Ref after its Kill. A KillAll that has
// begun finishes: if a release or a misuse handler panics, the releases and
// reports after it still run, and then the panic goes on (the last one, if
// several panicked, as with deferred calls).
//
// Everything the caller did before KillAll happens before each release
// runs, as for Kill. A nil entry panics before any Ref is killed.
func KillAll(refs ...*Ref) {
	for _, r := range refs {
		r.cells.State.Load() // a nil Ref faults here, before any lock is taken
	}
	var few [killAllBatch]killedRef // no allocation for one batch
	var killed []killedRef
	if len(refs) <= len(few) {
		killed = few[:len(refs)]
	} else {
		killed = make([]killedRef, len(refs))
	}
	for i := 0; i < len(refs); i += killAllBatch {
		end := min(i+killAllBatch, len(refs))
		killBatch(refs[i:end], killed[i:end])
	}
	finishKills(killed)
}

// killAllBatch bounds the Refs that KillAll kills under one membarrier.
// Their lock stripes (64 Refs hash to about 56 of the 256) are held from
// the first state store to the last fold: the membarrier, the reads of
// every cell (each waits for an update at work on it), and the return of
// the slots. Every operation that takes one of those stripes waits
// meanwhile, on any Ref that hashes to it: mode changes, Read, Done, a
// release's claim (a Put that reaches zero), a Lazy Ref's spread, misuse
// reports. 64 keeps that to some tens of microseconds, and one membarrier's
// microseconds at a few tens of nanoseconds a Ref.
const killAllBatch = 64

// killBatch kills refs as KillAndConfirm(nil) does each, with one
// fastpath.Quiesce for all of them, and records in out what is left to do
// without the locks. It holds every Ref's lock from the first state store
// to the last fold: each Ref's switch is then the three steps of
// toAtomicLocked in one critical section, as in Kill, and the one Quiesce,
// made after every Ref's step 1, began after each of them, which is all
// that step 2's argument asks of it (foldLocked). Holding several stripes
// cannot deadlock: KillAll takes them in ascending order, and no other path
// holds more than one (lock.go).
func killBatch(refs []*Ref, out []killedRef) {
	var held [refLockStripes / 64]uint64
	for _, r := range refs {
		s := r.stripe()
		held[s/64] |= 1 << (s % 64)
	}
	forStripes(&held, func(s int) { refLocks[s].Lock() })

	// Step 1 for every Ref that Kill would switch. A Ref that Kill would
	// refuse is judged again below, in the order of refs, once the Refs
	// before it are done: a Ref that appears twice is refused the second
	// time, and reported with the count that the first Kill left, as two
	// Kills in turn would.
	const (
		refused = iota
		dying   // was atomic already: Kill only marks it dying
		folding // was per-CPU: steps 2 and 3 follow
	)
	var how [killAllBatch]uint8
	quiesce := false
	for i, r := range refs {
		out[i].r = r
		switch {
		case r.killRefusalLocked(r.cells.State.Load()) != nil:
			how[i] = refused
		case r.markAtomicLocked(stDying):
			how[i] = folding
			quiesce = quiesce || r.needsQuiesce()
		default:
			how[i] = dying
		}
	}
	if quiesce {
		fastpath.Quiesce()
	}
	for i, r := range refs {
		switch how[i] {
		case refused:
			out[i].err = r.killRefusalLocked(r.cells.State.Load())
			continue
		case folding:
			r.foldDropLocked(&out[i])
		case dying:
			r.dropInitialHeld(&out[i])
		}
	}
	forStripes(&held, func(s int) { refLocks[s].Unlock() })
}

// forStripes calls f with the index of each stripe whose bit is set in
// held, in ascending order.
func forStripes(held *[refLockStripes / 64]uint64, f func(s int)) {
	for w, word := range held {
		for ; word != 0; word &= word - 1 {
			f(w*64 + bits.TrailingZeros64(word))
		}
	}
}

// finishKills does, without any lock of a Ref, what KillAll left to do,
// in order: each claimed release and each misuse report. If one panics,
// the rest still run before the panic goes on.
func finishKills(killed []killedRef) {
	for i := range killed {
		ok := false
		func() {
			defer func() {
				if !ok {
					finishKills(killed[i+1:])
				}
			}()
			killed[i].finish()
			ok = true
		}()
	}
}
