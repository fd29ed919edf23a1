/*
 * watch.pml -- a Promela model of the slot arena's deferred watches
 * (internal/slots/watch.go, "Deferred watches"): TakeOwnedSlot records
 * the owner of a slot instead of registering its cleanup, RetireSlot strikes
 * a recorded owner off the record and counts no pending retirement for it,
 * the pass (WatchPending) takes the recorded owners off the record under
 * arena.mu and registers their cleanups after letting it go, and each
 * cleanup (DropSlot) takes a pending retirement off the slot's count or
 * frees the slot (arena.go: RetireSlot, DropSlot, reclaim, freeSlot).
 *
 * One slot j, and NOWN owners that take it in turn (whichever finds it
 * free), so that the cleanup of an earlier owner, which may come at any
 * time after that owner is unreachable, meets the slot's later owners.
 * Each owner takes the slot (TakeOwnedSlot), then either retires it and
 * later lets go of the owner, or lets go of the owner without retiring.
 * The slot is FREE (on its pool's free list), OWNED by owner cur, or
 * RETIRED (on the retired queue, waiting for its grace period). pend is
 * chunk.pending[j]; unw is chunk.unwatched[j] as the model needs it, the
 * owner on the record for slot j plus one, or 0; passDue is arena.passDue,
 * set while a sentinel waits to run the next pass.
 *
 * What is abstracted: every critical section under arena.mu (TakeOwnedSlot,
 * RetireSlot, DropSlot, the reclaim that frees a retired slot, the pass's
 * locked part) is one atomic step, since nothing this model tracks changes
 * outside it but reachability and the pass's registration, and those are
 * steps of their own. The record's other entries (other slots' owners)
 * only delay the registration of this slot's owner, which the
 * interleavings cover: at most one owner of slot j is ever on the record,
 * since a recorded owner keeps the slot until it retires (which strikes it
 * off) or until a pass takes it off. The grace period is "at some later
 * point": a process that moves a retired slot to free at any time. The
 * garbage collector is reachability: an owner is reachable while the
 * program holds it (it has not let go of it), the record holds it, or a
 * pass that took it off the record holds it until it registers its
 * cleanup; a registered cleanup runs (one process per registration) at any
 * time after its owner is unreachable, in any order with the others. A
 * pass runs when one is due (passDue: the sentinel's cleanup after a GC,
 * or the overdue pass at a take), or any time before the last owner is
 * done (a WatchPending call), and NPASS passes may overlap; the Go code
 * serialises them (arena.passMu), so the model checks a weaker pass than
 * the code's. A pass that would find the record empty and passDue clear
 * changes nothing and is left out. The plain TakeSlot, whose caller
 * registers the cleanup at once, is not modelled.
 *
 * Ghosts: dropped[k] (the program let go of owner k), held[k] (passes
 * holding owner k between their locked part and its registration),
 * struck[k] (RetireSlot struck k off the record), nreg (cleanups
 * registered and not yet run), finished (owners done).
 *
 * Assertions:
 *   (1) a slot is freed only when it is OWNED and its owner is unreachable
 *       (DropSlot) or RETIRED (reclaim): never under an owner still using
 *       it, never twice (a slot FREE already, or RETIRED, which reclaim
 *       would free again); an owner that retires finds the slot still its
 *       own; a taken slot has no record entry left over;
 *   (2) no leak: once nothing can move (timeout), every owner has taken the
 *       slot and let go of it, and the slot is FREE with pend == 0, no record
 *       entry, no pass due and no cleanup still to run;
 *   (3) a cleanup is registered only for a reachable owner;
 *   (4) no cleanup is registered for an owner struck off the record.
 *
 * Macros: NOWN (owners, default 2), NPASS (concurrent passes, default 1).
 * Witnesses (each must fail, which shows the case is reached):
 *   WITNESS_WINDOW asserts that no owner retires while a pass holds it
 *                  between its locked part and its registration;
 *   WITNESS_STALE  asserts that the cleanup that frees the slot is its
 *                  current owner's (DropSlot's second case: an older
 *                  owner's cleanup frees it).
 * Mutants (check.sh expects each to fail):
 *   MUTANT_COUNTUNWATCHED RetireSlot counts a pending retirement for a
 *                         recorded owner too (and strikes it off), so a
 *                         later owner's cleanup is swallowed and the slot
 *                         never comes back: (2);
 *   MUTANT_LATEMARK       the pass takes its owners off the record only
 *                         after registering their cleanups, in a second
 *                         critical section: a RetireSlot in between strikes
 *                         the owner off, counts nothing, and a cleanup
 *                         still comes: (4); with NOSTRUCK_ASSERT, what that
 *                         cleanup does: it frees the slot while it waits
 *                         for its grace period or under a later owner, (1);
 *   MUTANT_DROPEARLY      the pass does not hold the owners it took off the
 *                         record: an owner the program has let go of may be
 *                         unreachable before its cleanup is registered: (3);
 *                         with NOREACH_ASSERT, the registration of an owner
 *                         already collected is lost (there is nothing left
 *                         to register it on), and so is the slot: (2).
 */

#ifndef NOWN
#define NOWN 2
#endif
#ifndef NPASS
#define NPASS 1
#endif

#define FREE    0
#define OWNED   1
#define RETIRED 2

byte st = FREE;      /* slot j: on the free list, owned, or on the retired queue */
byte cur;            /* its owner, while OWNED or RETIRED */
byte pend;           /* chunk.pending[j] */
byte unw;            /* chunk.unwatched[j]: the recorded owner + 1, or 0 */
bit  passDue;        /* arena.passDue: a sentinel waits to run the next pass */

bit  dropped[NOWN];  /* ghost: the program holds owner k no more */
byte held[NOWN];     /* ghost: passes holding owner k until they register it */
bit  struck[NOWN];   /* ghost: RetireSlot struck owner k off the record */
byte nreg;           /* ghost: cleanups registered and not yet run */
byte finished;       /* ghost: owners done */

/* The garbage collector's view: owner k is reachable while the program,
 * the record or a pass holds it. Each of these only ever lets go, so once
 * unreachable an owner stays so. */
#ifdef MUTANT_DROPEARLY
#define reachable(k) (!dropped[k] || unw == (k) + 1)
#else
#define reachable(k) (!dropped[k] || unw == (k) + 1 || held[k] > 0)
#endif

/* DropSlot(base), the cleanup of owner k: it runs once k is unreachable,
 * under arena.mu. */
proctype cleanup(byte k) {
	atomic {
		!reachable(k) ->
		if
		:: pend > 0 -> pend--          /* a retirement of a watched owner: k's, or an older one's */
		:: else ->
			assert(st == OWNED);       /* (1) neither free already nor waiting for its grace period */
			assert(!reachable(cur));   /* (1) its owner uses it no more */
#ifdef WITNESS_STALE
			assert(cur == k);          /* fails: an older owner's cleanup frees a later owner's slot */
#endif
			st = FREE                  /* freeSlot */
		fi;
		nreg--
	}
}

proctype owner(byte k) {
	/* TakeOwnedSlot: take the free slot, record the owner, make the sentinel */
	atomic {
		st == FREE ->
		assert(unw == 0);                  /* (1) no record entry outlives its owner's slot */
		st = OWNED; cur = k;
		unw = k + 1;
		passDue = 1
	}
	if
	:: atomic {                                /* RetireSlot */
		assert(st == OWNED && cur == k);   /* (1) the slot is still this owner's */
#ifdef WITNESS_WINDOW
		assert(held[k] == 0);              /* fails: a pass holds k and has yet to register it */
#endif
		if
		:: unw == k + 1 ->                 /* strikeLocked: no cleanup will come */
			unw = 0; struck[k] = 1;
#ifdef MUTANT_COUNTUNWATCHED
			pend++
#endif
		:: else -> pend++              /* watched: its cleanup will take this off */
		fi;
		st = RETIRED                       /* arena.retired.push */
	   }
	:: skip                                    /* lost without retiring */
	fi;
	atomic { dropped[k] = 1; finished++ }
}

/* reclaim: a retired slot whose grace period is over goes to the free list */
active proctype reclaimer() {
end:	do
	:: atomic { st == RETIRED -> st = FREE }
	od
}

/* WatchPending: the locked part takes the recorded owner off the record and
 * holds it; after arena.mu is let go, the registration (Watch, i.e.
 * runtime.AddCleanup) is a step of its own. */
active [NPASS] proctype pass() {
	byte b;     /* the batch: the owner of slot j it took, + 1, or 0 */
end:	do
	:: atomic {
		(passDue || (finished < NOWN && unw != 0)) ->   /* a due pass, or a WatchPending call */
		b = unw;
#ifndef MUTANT_LATEMARK
		unw = 0;                           /* off the record: watched from here */
#endif
		passDue = 0;
		if
		:: b != 0 -> held[b - 1]++
		:: else
		fi
	   }
		if
		:: b != 0 ->
			atomic {
#ifdef MUTANT_DROPEARLY
#ifdef NOREACH_ASSERT
				if
				:: !reachable(b - 1) -> held[b - 1]--; goto lost   /* nothing left to register on */
				:: else
				fi;
#endif
#endif
				assert(reachable(b - 1));  /* (3) */
#ifndef NOSTRUCK_ASSERT
				assert(!struck[b - 1]);    /* (4) */
#endif
				held[b - 1]--;             /* batch[i] = recorded{} */
				nreg++;
				run cleanup(b - 1)
			}
lost:
#ifdef MUTANT_LATEMARK
			atomic {                           /* the late second critical section: */
				/* clear the entry if it still names this owner */
				if
				:: unw == b -> unw = 0
				:: else
				fi
			}
#endif
			b = 0
		:: else
		fi
	od
}

init {
	byte i;
	atomic {
		for (i : 0 .. NOWN - 1) { run owner(i) }
	}
	/* nothing else can move: no owner, pass, reclaim or cleanup left to run */
	timeout;
	assert(finished == NOWN);       /* (2) no owner waits for a slot that never comes back */
	assert(st == FREE);             /* (2) the slot came back */
	assert(pend == 0);              /* (2) no retirement left that no cleanup will take off */
	assert(unw == 0 && !passDue);   /* (2) the record is empty, no pass owed */
	assert(nreg == 0)               /* (2) (every owner is unreachable: all cleanups ran) */
}
