/*
 * lazy.pml -- a Promela model of a default (adaptive) percpuref.Ref before
 * and while it spreads: the compare-and-swap on the central count C that a
 * Ref without cells counts with (fetchAddOrLazy's lazy half, and LAZY in
 * fast_amd64.s), spread (lazy.go: the slot taken, its leftovers settled,
 * Base published), the central path (getCentral/putCentral), and Kill
 * (killHeld: the switch and the drop in one critical section).
 *
 * The Ref: S is the state (PERCPU, or ATOMIC once killed); base says
 * whether the Ref has cells (Base != nil); C is the central count, which
 * carries BIAS in per-CPU mode, so that the count is C - BIAS + cell[0] +
 * cell[1] in per-CPU mode and C in atomic mode. The Ref starts in per-CPU
 * mode with no cells and a count of NU + 1: each of the NU users holds one
 * reference, and the owner the initial one.
 *
 * What is abstracted: an update on the cells (exclusive's plain store under
 * membarrier, or fetchadd's atomic add against the swap to dead) is one
 * atomic step that counts on a cell if S is PERCPU and the Ref has cells,
 * and otherwise refuses, so that the operation goes to C. That is the
 * guarantee exclusive.pml and percpuref.pml check for those protocols (an
 * update lands on exactly one side of the fold), taken here as given; so
 * is the fold itself, one step of Kill under the lock. The slot's
 * leftovers (cells a previous owner left nonzero, which settle moves into
 * C) are chosen nondeterministically at start. Locals merge freely; every
 * load, compare-and-swap, add and lock is its own step.
 *
 * Each user makes a Get, a Put, and the Put of the reference it held from
 * the start, each on a cell it picks (it may move between Ps). The owner
 * Kills: lock, S = ATOMIC, fold the cells and unbias C in one add, drop the
 * initial reference and, if that took the count to zero, release, all
 * before unlock. A user's lazy compare-and-swap that fails (C moved: another
 * goroutine counted meanwhile) spreads the Ref and then counts on C.
 *
 * Ghosts: held (references held; a Get adds to it and a Put takes from it
 * in the step that counts them), rel (releases run).
 * Assertions:
 *   (r) release runs at most once, and never while a reference is held;
 *   (e) at the end release has run exactly once, no reference is held, S is
 *       ATOMIC and C is 0.
 *
 * Mutants (check.sh expects each to fail):
 *   MUTANT_NORANGE  the compare-and-swap counts on C whatever it holds,
 *                   without checking that it carries the bias: after a Kill
 *                   has unbiased C, a user that loaded PERCPU before it
 *                   swaps its Put onto the atomic count with no zero check
 *                   (a release lost, or run early);
 *   MUTANT_NOSETTLE spread publishes the cells without moving their
 *                   leftovers into C (LEFTOVER needed);
 *   MUTANT_NOSTATE  spread does not check that the Ref is still in per-CPU
 *                   mode, and gives a killed Ref cells (and settles into
 *                   its atomic count).
 * Configurations: NU users (default 2); LEFTOVER lets the slot's cells
 * start nonzero (cell[0] at 0 or 1, cell[1] at 0 or -1).
 */

#ifndef NU
#define NU 2
#endif
#define BIAS   16   /* the bias; far above any count here */
#define LRANGE 4    /* lazyRange: |C - BIAS| of a lazy count stays within it */
#define PERCPU 0
#define ATOMIC 1

byte S = PERCPU;
bit  base;           /* the Ref has cells */
short C;
short cell[2];
bit  mu;             /* the Ref's lock (stripe) */
byte held;           /* ghost */
byte rel;            /* ghost */
byte finished;       /* processes done */

inline lock()   { atomic { mu == 0 -> mu = 1 } }
inline unlock() { mu = 0 }

inline release() {
	atomic { assert(rel == 0 && held == 0); rel++ }   /* (r) */
}

/* spread, lazy.go: under the lock, if the Ref is still per-CPU without
 * cells, take the slot, settle its leftovers into C, publish Base. */
inline spread() {
	lock();
#ifdef MUTANT_NOSTATE
	if
	:: !base ->
#else
	if
	:: S == PERCPU && !base ->
#endif
#ifndef MUTANT_NOSETTLE
		C = C - (cell[0] + cell[1]);      /* r.count.Add(-settle(&fresh)) */
#endif
		base = 1                          /* SetBase */
	:: else -> skip
	fi;
	unlock()
}

/* One Get (d = 1) or Put (d = -1), as get/put do: the dispatch, the lazy
 * compare-and-swap, and the central path. */
inline op(d) {
	st = S;                                   /* r.cells.State.Load() */
	done = 0;
	if
	:: st == PERCPU ->
		/* exclusive / fetchadd on the cells (abstracted, see above) */
		select(p : 0 .. 1);
		atomic {
			if
			:: S == PERCPU && base -> cell[p] = cell[p] + d; held = held + d; done = 1
			:: else -> skip
			fi
		}
		if
		:: !done ->
			b = base;                         /* r.cells.Len() != 0 */
			if
			:: !b ->
				v = C;                    /* r.count.Load() */
#ifndef MUTANT_NORANGE
				if
				:: v + d - BIAS >= -LRANGE && v + d - BIAS <= LRANGE ->
#endif
					atomic {          /* CompareAndSwap(v, v+d) */
						if
						:: C == v -> C = v + d; held = held + d; done = 1
						:: else -> skip
						fi
					}
					if
					:: !done -> spread()
					:: else -> skip
					fi
#ifndef MUTANT_NORANGE
				:: else -> skip           /* the central path checks the range */
				fi
#endif
			:: else -> skip
			fi
		:: else -> skip
		fi
	:: else -> skip
	fi;
	if
	:: !done ->                               /* getCentral / putCentral */
		atomic { C = C + d; held = held + d; nv = C };
		if
		:: d < 0 && nv == 0 -> release()
		:: else -> skip
		fi
	:: else -> skip
	fi
}

proctype user() {
	byte st; bit done, b; byte p; short v, nv;
	op(1);
	op(-1);
	op(-1);
	finished++
}

/*
 * Kill: killHeld, the switch and the drop of the initial reference in one
 * critical section. Go takes the initial reference away in the fold's add
 * (foldDropLocked); the model keeps the fold and the drop as two steps,
 * which only adds interleavings (an operation on C between them).
 */
proctype owner() {
	short nv;
	lock();
	S = ATOMIC;
	if
	:: base ->
		C = C + cell[0] + cell[1] - BIAS; cell[0] = 0; cell[1] = 0
	:: else ->
		C = C - BIAS
	fi;
	atomic { C = C - 1; held = held - 1; nv = C };   /* the initial reference: count.Add(-1) */
	if
	:: nv == 0 -> release()
	:: else -> skip
	fi;
	unlock();
	finished++
}

init {
	byte i;
#ifdef LEFTOVER
	if :: cell[0] = 0 :: cell[0] = 1 fi;
	if :: cell[1] = 0 :: cell[1] = -1 fi;
#endif
	C = BIAS + NU + 1;
	held = NU + 1;
	atomic {
		run owner();
		for (i : 1 .. NU) { run user() }
	}
	finished == NU + 1;
	assert(rel == 1 && held == 0 && S == ATOMIC && C == 0)   /* (e) */
}
