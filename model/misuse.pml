/*
 * misuse.pml -- a Promela model of Gets and Puts on a released
 * percpuref.Ref (use after release), as coded in package percpuref: get and
 * put past the fast path (the atomic-mode branch), getChecked, putChecked,
 * runRelease, unusable/useAfterRelease, corrupt, reportPoisoned and
 * poisonLocked; docs/semantics.md, rules 2 and 3.
 *
 * The Ref is in atomic mode after Kill (state stInit|stAtomic|stDying) with
 * a count of 1: the last reference, which one goroutine (caller(0, 0)) drops
 * with a Put. That Put takes the count to 0 and claims the release under
 * the Ref's lock (state.Or(stReleased)), as runRelease does. M misusers
 * (caller(1, 1), 2 or 3 of them) each make one Get or one Put, chosen
 * nondeterministically, after the claim: each starts only once the claim
 * has happened, though possibly while the claimer still holds the lock and
 * before release has run. With EARLY=k the first k misusers (caller(0, 1))
 * may start at any time instead: their state load may come before the
 * claim, even before the last Put's add, racing it (the case
 * docs/semantics.md admits), or after it.
 *
 * Every Go atomic (state.Load, count.Add, count.Load, count.Store,
 * state.Or) and every lock and unlock is one step; steps on a goroutine's
 * own locals (the gate, usable(st); the branches on the add's result) are
 * free to merge. In atomic mode get and put load the state once and gate on
 * it; the assembly's fast path (fast_amd64.s) loads and gates the same way
 * and, if the gate refuses, get(tried)/put(tried) load the state again,
 * which finds stReleased again (nothing clears it: no Reinit here), so one
 * load stands for both. A report is one step (send: the handler counting
 * the report); send's own lock only reads the handler and is left out.
 *
 * Ghost variables (never read by the modelled code): claimed (the claim has
 * happened; the late misusers wait for it), rel (claims that found
 * stReleased clear: releases run), zeroed (an add has taken the count to
 * 0), poisoned (the poison store has happened), pend (the deltas added to a
 * poisoned count and not yet undone), drift (see (p)), reports, named
 * (reports that name the count rather than Poisoned). Per operation: saw
 * (its state load found stReleased), added, found (the count its add
 * found, its result less its delta), az (its add came after the count had
 * reached 0), rep (its reports).
 *
 * Assertions:
 *   (a) an operation whose state load saw stReleased is reported exactly
 *       once;
 *   (b) every operation (the last Put included) is reported at most once;
 *       one that is not reported found a live count (in [1, MAXC]) with its
 *       add, as a valid Get or Put would; one whose add found 0 or less (or
 *       a poisoned count) is reported;
 *   (w) an operation whose add came after the count had reached 0 is
 *       reported. With EARLY=2 this is the one that fails, in the window
 *       docs/semantics.md admits: a racing Get finds 0, and before its
 *       poison lands another racing Get finds 1 and passes unreported.
 *       ADMIT_WINDOW leaves (w) out, so that the rest is checked there too;
 *   (r) release is claimed at most once; at the end, exactly once if the
 *       count ever reached 0, else (only with EARLY: every racing add came
 *       before the last Put's, so no count could tell them from valid
 *       operations) never, with no report and a live count;
 *   (p) a poisoned count never moves: once poisoned, C stays in the
 *       poison zone and C == POISON + pend + drift. pend is nonzero only
 *       while an operation whose state load came before the claim is
 *       between its add on the poisoned count and its undo (gated, none
 *       whose load came after the claim adds). drift is what a poison
 *       store would leave if it overwrote such an add (its undo then takes
 *       the count past POISON); asserted 0: poisonLocked stores only on a
 *       count that is not poisoned yet (MUTANT_REPOISON breaks it);
 *   (n) useAfterRelease's first reporter (the one that finds the count
 *       unpoisoned, under the lock) names the count 0 (with EARLY, the
 *       count the racing adds left there, within -EARLY..EARLY) and
 *       poisons; every later one reports Poisoned. Without EARLY: M
 *       reports in all, exactly one naming the count;
 *   (f) at the end, a count that reached 0 is poisoned: it is never seen
 *       as a live Ref's count (above 0, not poisoned) once the misusers
 *       are done.
 *
 * Configuration macros (spin -D...):
 *   M             misusers, each one Get or Put (default 2)
 *   EARLY         the first EARLY misusers may start before the claim,
 *                 racing the last Put (default 0; 1 or 2)
 *   ADMIT_WINDOW  leave out (w), which EARLY=2 breaks as the docs admit
 * Mutant (must produce an assertion violation):
 *   MUTANT_NOGATE the code before the gate: usable(st) does not refuse
 *                 stReleased, so a Get or Put on a released Ref adds to the
 *                 count and checks what it found (getChecked, putChecked):
 *                 a Get that finds the count at 1, left there by another
 *                 Get whose poison has not landed yet, is not reported (a)
 *   MUTANT_REPOISON poisonLocked stores poison on a count already
 *                 poisoned: with EARLY=2 a racing Get that found 0 poisons
 *                 again over a third operation's add in flight, whose undo
 *                 then leaves the count one off poison (p), (f)
 *
 * Run (errors: 0 expected; the mutant must report an assertion violation):
 *
 *	spin -a -DM=3 -DEARLY=1 misuse.pml && gcc -O2 -w -DSAFETY -o pan pan.c && ./pan
 *	spin -a -DMUTANT_NOGATE misuse.pml && gcc -O2 -w -DSAFETY -o pan pan.c && ./pan
 */

#ifndef M
#define M 2
#endif
#ifndef EARLY
#define EARLY 0
#endif
#define NOPS (M + 1)          /* the misusers and the last Put */

/* scaled constants (Go value in the comment) */
#define MAXC       32         /* MaxCount   = 1<<60    */
#define POISON     (-64)      /* poison     = -(1<<62) */
#define POISONZONE (-32)      /* poisonZone = -(1<<61) */

/* state bits (percpuref/ref.go) */
#define stInit     1
#define stAtomic   2
#define stDying    4
#define stExited   8
#define stReleased 16
#define stPoisoned 32

/* usable(st): the gate */
#ifdef MUTANT_NOGATE
#define USABLE(st) (((st) & (stInit | stExited)) == stInit)
#else
#define USABLE(st) (((st) & (stInit | stExited | stReleased)) == stInit)
#endif

/* ---- the Ref ---- */
short C;              /* Ref.count                                         */
byte  S;              /* Ref.cells.State                                   */
bit   mu;             /* the Ref's lock (a stripe of refLocks)             */

/* ---- ghost ---- */
bit   claimed;        /* the release has been claimed                      */
byte  rel;            /* claims that found stReleased clear                */
bit   zeroed;         /* an add has taken C to 0                           */
bit   poisoned;       /* the poison store has happened                     */
short pend;           /* deltas added to a poisoned C, not yet undone      */
short drift;          /* what poison stores over such adds left (p)        */
byte  reports;        /* misuse reports sent                               */
byte  named;          /* of which, reports naming the count (not Poisoned) */
byte  ndone;          /* finished goroutines                               */

inline lock()   { atomic { mu == 0 -> mu = 1 } }
inline unlock() { mu = 0 }

/* (p): checked after every step, by watch */
#define NODRIFT (drift == 0)
#define POISONOK (!poisoned || (C == POISON + pend + drift && C < POISONZONE && NODRIFT))

active proctype watch() {
end:	atomic { !POISONOK -> assert(POISONOK) }
}

/* send: the handler counts the report; isnamed: it names the count */
inline report(isnamed) {
	atomic {
		reports++; rep++;
		if :: isnamed -> named++ :: else -> skip fi
	}
}

/* poisonLocked: if state.Or(stPoisoned) found the bit clear,
 * count.Store(poison). mu held, and every writer of the bit holds it, so
 * the test and the Or are one step here. MUTANT_REPOISON stores poison
 * whatever the bit was. */
inline poisonLocked() {
#ifdef MUTANT_REPOISON
	S = S | stPoisoned;
	atomic {
		C = POISON;
		if :: poisoned -> drift = -pend :: else -> poisoned = 1 fi
	}
#else
	if
	:: (S & stPoisoned) == 0 ->
		S = S | stPoisoned;
		atomic { C = POISON; poisoned = 1 }
	:: else -> skip                      /* poisoned already: C stays */
	fi
#endif
}

/* corrupt(op, count, err): lock; poisonLocked; unlock; report */
inline corrupt() {
	lock();
	poisonLocked();
	unlock();
	report(1)
}

/* reportPoisoned: lock; poisonCauseLocked(state.Load()); unlock; send */
inline reportPoisoned() {
	lock();
	st = S;
	assert(st & stPoisoned);
	unlock();
	report(0)
}

/* count.Add(d): v is the result; the ghosts record what it found */
inline add(d) {
	atomic {
		az = zeroed;
		C = C + d; v = C; found = v - d; added = 1;
		if :: v == 0 -> zeroed = 1 :: else -> skip fi;
		if :: found < POISONZONE -> pend = pend + d :: else -> skip fi
	}
}

/* the undo of a poisoned count's add: count.Add(-d) */
inline undo(d) {
	atomic { C = C - d; pend = pend - d }
}

/* runRelease, for the Put that took C to 0:
 *   m := lock(); if state.Or(stReleased)&stReleased != 0 { m.Unlock();
 *   corrupt(op, 1, ErrReleased); return false }; ...; m.Unlock(); release() */
inline runRelease() {
	lock();
	atomic {
		st = S; S = S | stReleased;         /* state.Or(stReleased) */
		if
		:: (st & stReleased) == 0 ->
			claimed = 1; rel++;             /* ghost: release() will run */
			assert(rel == 1)                /* (r) */
		:: else -> skip
		fi
	};
	if
	:: st & stReleased -> unlock(); corrupt()   /* a second zero */
	:: else -> unlock()                         /* release(); returned(life) */
	fi
}

/* useAfterRelease(op, get): under the lock, the first to find the count
 * unpoisoned names it and poisons; the rest report Poisoned */
inline useAfterRelease() {
	lock();
	st = S;                                 /* state.Load() */
	assert(st & stReleased);                /* no Reinit here */
	if
	:: st & stPoisoned ->
		unlock(); report(0)                 /* Poisoned */
	:: else ->
		v = C;                              /* count.Load() */
		assert(v >= -EARLY && v <= EARLY);  /* (n) */
		poisonLocked();
		unlock(); report(1)
	fi
}

/* get, atomic mode: st := state.Load(); gate; count.Add(1); getChecked */
inline get() {
	atomic { st = S; saw = ((st & stReleased) != 0) };
	if
	:: !USABLE(st) -> useAfterRelease()     /* unusable(op, st, true) */
	:: else ->
		add(1);
		if
		:: v <= 1 || v > MAXC ->            /* getChecked(op, 1, v) */
			if
			:: found < POISONZONE -> undo(1); reportPoisoned()
			:: found >= POISONZONE && found <= 0 ->
				lock(); poisonLocked(); unlock();   /* zeroCauseLocked: mu held */
				report(1)
			:: else -> assert(false)       /* outOfRange: v past MaxCount */
			fi
		:: else -> skip                     /* a valid Get */
		fi
	fi
}

/* put, atomic mode: st := state.Load(); gate; count.Add(-1); putChecked */
inline put() {
	atomic { st = S; saw = ((st & stReleased) != 0) };
	if
	:: !USABLE(st) -> useAfterRelease()     /* unusable(op, st, false) */
	:: else ->
		add(-1);
		if
		:: v >= 1 && v <= MAXC -> skip      /* atomicValid(v) */
		:: else ->                          /* putChecked(op, 1, v) */
			if
			:: v == 0 -> runRelease()
			:: v != 0 && v + 1 < POISONZONE -> undo(-1); reportPoisoned()
			:: v + 1 >= POISONZONE && v < 0 -> corrupt()   /* ErrUnderflow */
			:: else -> assert(false)       /* outOfRange */
			fi
		fi
	fi
}

/* one Get or Put (a Put only, for the last Put: mayget 0); a late caller
 * starts once the release is claimed, and never if it never is */
proctype caller(bit late; bit mayget) {
	byte st;
	short v, found;
	bit isget, saw, added, az;
	byte rep;

	if
	:: late ->
end_wait:	claimed
	:: else -> skip
	fi;
	if
	:: mayget -> isget = 1
	:: isget = 0
	fi;
	if
	:: isget -> get()
	:: else -> put()
	fi;
	atomic {
		assert(!saw || rep == 1);                               /* (a) */
		assert(rep <= 1);                                       /* (b) */
		assert(rep == 1 || (added && found >= 1 && found <= MAXC));
		assert(!(added && found <= 0) || rep == 1);
#ifndef ADMIT_WINDOW
		assert(!az || rep == 1);                                /* (w) */
#endif
		ndone++
	}
}

init {
	byte k;
	atomic {
		C = 1; S = stInit | stAtomic | stDying;   /* after Kill: the last reference */
		run caller(0, 0);                         /* the last Put */
		k = 0;
		do
		:: k < M -> run caller(k >= EARLY, 1); k++
		:: else -> break
		od;
		k = 0
	};
	/* everyone done; or, with no claim, the racing ones done (the late
	 * ones never start: nothing took the count to 0) */
	ndone == NOPS || (ndone == EARLY + 1 && !claimed);
	assert(pend == 0);
	if
	:: zeroed ->
		assert(rel == 1);                         /* (r) */
		assert(C == POISON + drift && NODRIFT);   /* (f) */
		assert(S & stPoisoned)
	:: else ->
		assert(EARLY > 0);                        /* (r): no zero, no release */
		assert(rel == 0 && reports == 0 && C >= 1 && (S & stPoisoned) == 0)
	fi;
#if EARLY == 0
	assert(reports == M && named == 1)            /* (n) */
#endif
}
