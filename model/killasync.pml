/*
 * killasync.pml -- a Promela model of KillAsync (percpuref/killasync.go):
 * a Kill whose steps 2 and 3 (the fold after a membarrier, the drop of the
 * initial reference, the release) are left to a folder goroutine, with the
 * Ref's stripe lock handed from the caller to that goroutine.
 *
 * r.KillAsync(), for a Ref with cells in per-CPU mode: take r's stripe
 * (refLocks[stripe(r)], lock.go), make step 1 (markAtomicLocked(stDying)),
 * and return with the stripe still held, after asyncKills.add(r, m):
 *
 *	add(r, m): lock q.mu; append {r, m} to q.refs; start := !q.folding;
 *	           q.folding = true; unlock q.mu; if start { go q.fold() }
 *	fold():    lock q.mu; batch := q.refs; q.refs = nil; unlock q.mu
 *	           fastpath.Quiesce()
 *	           for each p of batch: p.r.foldDropLocked(&killed[i]); p.m.Unlock()
 *	           lock q.mu; if len(q.refs) > 0 { go q.fold() } else
 *	           { q.folding = false }; unlock q.mu      (the hand-on)
 *	           finishKills(killed)                     (user code)
 *
 * A KillAsync that Kill would refuse (here: the Ref is dying already)
 * unlocks and reports. A Ref without cells, or already atomic, is killed
 * synchronously by KillAsync as by Kill; here every Ref has cells and is
 * per-CPU until killed, so that path is the refusal or the SYNC op below.
 *
 * What is modelled, and at what level:
 *
 *  - NR Refs on NS stripes (the map stripe[] is per configuration; CONF 1
 *    puts every Ref on one stripe). A stripe is a bit: lock is
 *    `lk[s] == 0 -> lk[s] = 1` in one step, unlock `lk[s] = 0` by whoever
 *    unlocks, which need not be the process that locked (sync.Mutex allows
 *    it). A process blocked on a held stripe waits, as in Go.
 *  - A Ref's lifecycle: st[r] LIVE (per-CPU with cells), MARKED (step 1
 *    done: stAtomic|stDying), FOLDED (steps 2 and 3 done and the initial
 *    reference dropped). Its count is the number of logical references
 *    (the initial one, and one more if a holder has it); the bias and the
 *    cells are abstracted: while the Ref is not folded its count cannot
 *    reach 0 (the bias, percpuref.pml), and the fold makes it exact
 *    (exclusive.pml, barrier.pml), so the fold's add and a holder's Put
 *    are one step each on the logical count, and whichever takes it to 0
 *    claims the release: the fold under the stripe (claimLocked), the Put
 *    by taking the stripe for the claim (runRelease).
 *  - The membarrier, abstractly: nq counts the Quiesce calls begun; step 1
 *    records in markq[r] the value of nq at the mark; a Quiesce is one
 *    step nq++, myq = nq at its call. barrier.pml shows that Quiesce
 *    returns only once a membarrier that began after its call has ended
 *    (shared or not), and exclusive.pml/barrier.pml that a fold after
 *    such a barrier, begun after the mark, is exact; so what KillAsync must
 *    give the fold is markq[r] < myq for the Quiesce it folds under: the
 *    assertion (o). The cells, their updates and the store buffers are
 *    not modelled here.
 *  - The queue q: qmu (a leaf mutex: nothing is taken while it is held),
 *    q[]/qn (q.refs, FIFO, the Ref; the entry's mutex is stripe[r]),
 *    folding. Folders are processes started with run, as many as batches.
 *  - Goroutines: NK killers, each making KOPS operations from a fixed list
 *    (per CONF), and the folders, and (HOLDER) a goroutine holding one
 *    extra reference to a Ref, which it Puts at any time. An operation
 *    is ASYNC t (KillAsync), SYNC t (Kill: lock, refusal check, step 1,
 *    its own Quiesce, fold and drop, unlock, then the release it claimed
 *    in the same goroutine), READ t (Read, Done, a misuse report's
 *    count...: anything that takes t's stripe and lets it go without
 *    waiting), or WAIT t (<-t.Done(): wait until t's release has
 *    returned; only CONF 5 uses it). A release (user code) is one such operation, per Ref
 *    (rop/rtg, per CONF), run by the goroutine that claimed it after it
 *    let go of every stripe: a folder in finishKills, a killer after a
 *    SYNC, the holder after its Put. A release that claims another (its
 *    SYNC finds the count at 0) runs that one next, as Kill does inside
 *    the release (a chain, walked with a local, since inlines do not
 *    recurse).
 *
 * KillAll is left out as an operation: it is the one path that holds a
 *   stripe while it waits for another, but what it waits for is a stripe,
 *   and a stripe held by a pending entry is let go by a folder that takes
 *   no stripe and runs no user code before it lets go (the assertions
 *   below check the folder against every other goroutine here); a KillAll
 *   blocked on such a stripe is a READ that holds more. Left out, with the
 *   reason: the misuse reports (they run after the
 *   unlock and touch no lock or queue here); panics in a release (Go's
 *   finishKills runs the rest, then the panic goes on: in a folder
 *   goroutine that ends the program); the order of finishKills among the
 *   Refs of a batch being the batch's (it is here too) -- the releases of
 *   a batch run in one goroutine one after another.
 *
 * Assertions:
 *   (o) each fold comes after a Quiesce that began after that Ref's mark
 *       (markq[r] < myq), and finds the Ref MARKED;
 *   (f) a Ref is folded at most once, and its release claimed at most once
 *       and run at most once; at the end every Ref that some operation
 *       tried to kill is folded once and released once, the others are
 *       live and untouched;
 *   (p) at most one pending entry per stripe (checked at add);
 *   (q) the lock discipline: an unlock finds its stripe held; at the end
 *       every stripe is free, q empty, folding false, no entry pending;
 *   (d) no deadlock: a watchdog asserts, on spin's timeout (no process can
 *       move), that init has made its final checks. So a deadlock is an
 *       assertion violation, which check.sh's mutants expect; pan runs
 *       without -E, so an invalid end state (NOWATCHDOG) is an error too.
 *
 * Configuration macros (spin -D...):
 *   CONF    1: three Refs on one stripe; 2: three Refs on two stripes;
 *           3: four Refs on two stripes, three killers; 4: three Refs
 *           on two stripes, two killers making two operations each;
 *           5: a release that waits for another Ref's Done (see init)
 *   HOLDER  Ref HOLDER has one more reference, held by a goroutine that
 *           Puts it at any time (so the fold or the Put releases it)
 *   NOWATCHDOG  leave out (d)'s watchdog: a deadlock is then spin's
 *           invalid end state
 *   RELEASE_EACH  the folder runs each release it claimed in a goroutine
 *           of its own (releaser) instead of one after another in its own
 *           (a variant of the design, for CONF 5)
 * Mutants (each must produce an assertion violation):
 *   MUTANT_USERFIRST  the folder runs finishKills before the hand-on
 *   MUTANT_NOSTART    the hand-on sets folding = false without looking at
 *                     q.refs (entries added during the fold are left for
 *                     the next add to start a folder for)
 *   MUTANT_NOSTARTADD add never starts a folder (folding set, no go)
 *   MUTANT_EARLYSNAP  the folder quiesces before its snapshot of q.refs
 *   MUTANT_NOHOLD     KillAsync lets go of the stripe before add (the
 *                     folder does not unlock it): two entries on a stripe
 */

#ifndef CONF
#define CONF 1
#endif

#if CONF == 3
#define NR 4
#define NS 2
#define NK 3
#define KOPS 1
#elif CONF == 4 || CONF == 5
#define NR 3
#define NS 2
#define NK 2
#define KOPS 2
#else
#define NR 3
#define NS 2
#define NK 2
#define KOPS 1
#endif

#define NOREF 255

/* Ref states */
#define LIVE   0
#define MARKED 1
#define FOLDED 2

/* operations */
#define NONE  0
#define ASYNC 1
#define SYNC  2
#define READ  3
#define WAIT  4

byte stripe[NR];      /* the stripe each Ref hashes to */
byte kop[NK*KOPS];    /* killer k's i-th operation and its Ref */
byte ktg[NK*KOPS];
byte rop[NR];         /* what Ref r's release does, and to which Ref */
byte rtg[NR];

bit  lk[NS];          /* refLocks */
byte st[NR];          /* the Refs' states */
byte cnt[NR];         /* logical references */

bit  qmu;             /* asyncKills.mu */
byte q[NR];           /* asyncKills.refs */
byte qn;
bit  folding;         /* asyncKills.folding */

byte nq;              /* Quiesce calls begun */

/* ghost */
byte markq[NR];       /* nq at the Ref's mark */
byte nfold[NR];       /* folds of each Ref */
bit  claimed[NR];     /* release claimed */
byte nrel[NR];        /* releases run */
bit  ret[NR];         /* release returned (its Done channel closed) */
bit  tried[NR];       /* some kill (ASYNC or SYNC) of the Ref took its stripe */
byte pend[NS];        /* pending entries holding each stripe */
byte nfl;             /* folders started and not finished */
byte ndone;           /* killers (and the holder) finished */
bit  fin;             /* init has made its final checks */

inline lockS(x) { atomic { lk[x] == 0 -> lk[x] = 1 } }
inline unlockS(x) { assert(lk[x] == 1); lk[x] = 0 }           /* (q) */

/* a Quiesce call: the barrier it waits for begins after this step */
inline quiesce() { atomic { nq++; myq = nq } }

/* step 1, under t's stripe: markAtomicLocked(stDying) */
inline mark(t) { atomic { st[t] = MARKED; markq[t] = nq } }

/* steps 2 and 3 and the drop (foldDropLocked), under t's stripe, after a
 * Quiesce (myq); a drop to 0 claims the release for this goroutine (nxt) */
inline foldDrop(t) {
	atomic {
		assert(st[t] == MARKED && markq[t] < myq);              /* (o) */
		st[t] = FOLDED;
		nfold[t]++;
		assert(nfold[t] == 1);                                  /* (f) */
		cnt[t]--;
		if
		:: cnt[t] == 0 -> assert(!claimed[t]); claimed[t] = 1; nxt = t
		:: else -> skip
		fi
	}
}

/* add(t): t's stripe s is held, and stays held for the folder */
inline add(t) {
	atomic {
		qmu == 0 -> qmu = 1;
		assert(pend[s] == 0); pend[s]++;                       /* (p) */
		q[qn] = t; qn++
	};
	atomic {
		start = !folding; folding = 1;
		qmu = 0
	};
#ifdef MUTANT_NOSTARTADD
	start = 0;
#endif
	if
	:: start -> atomic { run folder(); nfl++; start = 0 }
	:: else -> skip
	fi
}

/* KillAsync(t) */
inline killAsync(t) {
	s = stripe[t];
	lockS(s);
	tried[t] = 1;
	if
	:: st[t] != LIVE -> unlockS(s)                  /* refused: unlock, report */
	:: else ->
		mark(t);
#ifdef MUTANT_NOHOLD
		unlockS(s);
#endif
		add(t)
	fi;
	s = 0
}

/* Kill(t) (KillAndConfirm(nil)): one critical section, its own Quiesce;
 * a release it claims is left in nxt for the caller to run after unlock */
inline killSync(t) {
	s = stripe[t];
	lockS(s);
	tried[t] = 1;
	if
	:: st[t] != LIVE -> skip                        /* refused */
	:: else -> mark(t); quiesce(); foldDrop(t); myq = 0
	fi;
	unlockS(s);
	s = 0
}

/* an operation; a release it claims (SYNC) is left in nxt */
inline doOp(o, t) {
	if
	:: o == ASYNC -> killAsync(t)
	:: o == SYNC -> killSync(t)
	:: o == READ -> s = stripe[t]; lockS(s); unlockS(s); s = 0
	:: o == WAIT -> ret[t]                          /* <-t.Done() */
	:: o == NONE -> skip
	fi
}

/* run the release in nxt, and those it claims in turn (user code: no
 * stripe is held by this goroutine here) */
inline runReleases() {
	do
	:: nxt != NOREF ->
		atomic {
			cur = nxt; nxt = NOREF;
			assert(claimed[cur]); nrel[cur]++;
			assert(nrel[cur] == 1)                              /* (f) */
		};
		doOp(rop[cur], rtg[cur]);
		atomic { ret[cur] = 1; cur = NOREF }
	:: else -> break
	od
}

/* the hand-on: a new folder for what was added meanwhile, or none needed */
inline handOn() {
	atomic {
		qmu == 0 -> qmu = 1;
#ifdef MUTANT_NOSTART
		folding = 0;
		start = 0;
#else
		if
		:: qn > 0 -> start = 1
		:: else -> folding = 0; start = 0
		fi;
#endif
	};
	if
	:: start -> atomic { run folder(); nfl++; qmu = 0; start = 0 }
	:: else -> qmu = 0
	fi
}

#ifdef RELEASE_EACH
/* a goroutine of its own for one release claimed by a folder */
proctype releaser(byte first) {
	byte s, myq, cur;
	byte nxt = first;
	bit start;
	runReleases();
	nfl--
}
#endif

proctype folder() {
	byte b[NR];           /* batch */
	byte bn, i, r, s, myq, cur, t;
	byte nxt = NOREF;
	byte rel[NR];         /* the releases this batch claimed, in order */
	byte nr;
	bit start;

#ifdef MUTANT_EARLYSNAP
	quiesce();
#endif
	/* the snapshot */
	atomic {
		qmu == 0 -> qmu = 1;
		assert(qn > 0);
		i = 0;
		do
		:: i < qn -> b[i] = q[i]; q[i] = 0; i++
		:: else -> break
		od;
		bn = qn; qn = 0; i = 0
	};
	qmu = 0;
#ifndef MUTANT_EARLYSNAP
	quiesce();
#endif
	do
	:: i < bn ->
		r = b[i]; s = stripe[r];
		foldDrop(r);
		if
		:: nxt != NOREF -> rel[nr] = nxt; nr++; nxt = NOREF
		:: else -> skip
		fi;
		atomic {
#ifndef MUTANT_NOHOLD
			unlockS(s);
#endif
			pend[s]--
		};
		i++
	:: else -> break
	od;
	i = 0; r = 0; s = 0; myq = 0;
#ifndef MUTANT_USERFIRST
	handOn();
#endif
	/* finishKills */
	do
#ifdef RELEASE_EACH
	:: i < nr -> atomic { run releaser(rel[i]); nfl++; i++ }
#else
	:: i < nr -> nxt = rel[i]; runReleases(); i++
#endif
	:: else -> break
	od;
#ifdef MUTANT_USERFIRST
	handOn();
#endif
	nfl--
}

proctype killer(byte k) {
	byte i, s, myq, cur;
	byte nxt = NOREF;
	bit start;
	do
	:: i < KOPS ->
		doOp(kop[k*KOPS + i], ktg[k*KOPS + i]);
		runReleases();                 /* a SYNC's release, after unlock */
		i++
	:: else -> break
	od;
	ndone++
}

#ifdef HOLDER
/* a goroutine holding one reference to Ref HOLDER: Put (central or on a
 * cell; it cannot reach 0 before the fold), and if it took the count to
 * 0, runRelease: the claim under the stripe, the release after unlock */
proctype holder() {
	byte s, myq, cur;
	byte nxt = NOREF;
	bit start, z;
	atomic { cnt[HOLDER]--; z = (cnt[HOLDER] == 0 && st[HOLDER] == FOLDED) };
	if
	:: z ->
		s = stripe[HOLDER];
		lockS(s);
		atomic { assert(!claimed[HOLDER]); claimed[HOLDER] = 1; nxt = HOLDER };
		unlockS(s); s = 0;
		runReleases()
	:: else -> skip
	fi;
	ndone++
}
#define NHOLD 1
#else
#define NHOLD 0
#endif

#ifndef NOWATCHDOG
/* (d): if nothing can move, init must have finished */
active proctype watchdog() {
end:	timeout -> assert(fin)
}
#endif

init {
	byte r;
	atomic {
		r = 0;
		do
		:: r < NR -> cnt[r] = 1; rop[r] = NONE; r++
		:: else -> break
		od;
#ifdef HOLDER
		cnt[HOLDER]++;
#endif
#if CONF == 1
		/* every Ref on stripe 0 */
		stripe[0] = 0; stripe[1] = 0; stripe[2] = 0;
		kop[0] = ASYNC; ktg[0] = 0;          /* killer 0: KillAsync(r0) */
		kop[1] = ASYNC; ktg[1] = 1;          /* killer 1: KillAsync(r1) */
		rop[0] = ASYNC; rtg[0] = 2;          /* r0's release: KillAsync(r2) */
		rop[1] = READ;  rtg[1] = 2;          /* r1's release: Read(r2) */
#elif CONF == 2
		/* r0 on stripe 0; r1, r2 on stripe 1 */
		stripe[0] = 0; stripe[1] = 1; stripe[2] = 1;
		kop[0] = ASYNC; ktg[0] = 0;          /* killer 0: KillAsync(r0) */
		kop[1] = ASYNC; ktg[1] = 1;          /* killer 1: KillAsync(r1) */
		rop[0] = ASYNC; rtg[0] = 2;          /* r0's release: KillAsync(r2) */
		rop[1] = SYNC;  rtg[1] = 2;          /* r1's release: Kill(r2) */
		rop[2] = READ;  rtg[2] = 0;          /* r2's release: Read(r0) */
#elif CONF == 3
		/* r0, r2 on stripe 0; r1, r3 on stripe 1 */
		stripe[0] = 0; stripe[1] = 1; stripe[2] = 0; stripe[3] = 1;
		kop[0] = ASYNC; ktg[0] = 0;          /* killer 0: KillAsync(r0) */
		kop[1] = ASYNC; ktg[1] = 1;          /* killer 1: KillAsync(r1) */
		kop[2] = SYNC;  ktg[2] = 2;          /* killer 2: Kill(r2) */
		rop[0] = ASYNC; rtg[0] = 3;          /* r0's release: KillAsync(r3) */
		rop[1] = ASYNC; rtg[1] = 2;          /* r1's release: KillAsync(r2) */
		rop[2] = SYNC;  rtg[2] = 3;          /* r2's release: Kill(r3) */
		rop[3] = ASYNC; rtg[3] = 0;          /* r3's release: KillAsync(r0) */
#elif CONF == 4
		/* r0, r1 on stripe 0, r2 on stripe 1 */
		stripe[0] = 0; stripe[1] = 0; stripe[2] = 1;
		kop[0] = ASYNC; ktg[0] = 0;          /* killer 0: KillAsync(r0), */
		kop[1] = ASYNC; ktg[1] = 1;          /*   then KillAsync(r1) */
		kop[2] = ASYNC; ktg[2] = 2;          /* killer 1: KillAsync(r2), */
		kop[3] = READ;  ktg[3] = 0;          /*   then Read(r0) */
		rop[0] = ASYNC; rtg[0] = 2;          /* r0's release: KillAsync(r2) */
		rop[1] = SYNC;  rtg[1] = 2;          /* r1's release: Kill(r2) */
		rop[2] = READ;  rtg[2] = 1;          /* r2's release: Read(r1) */
#elif CONF == 5
		/* r0 on stripe 0, r1 on stripe 1; r2 is not used */
		stripe[0] = 0; stripe[1] = 1; stripe[2] = 0;
		kop[0] = ASYNC; ktg[0] = 0;          /* killer 0: KillAsync(r0) */
		kop[2] = ASYNC; ktg[2] = 1;          /* killer 1: KillAsync(r1) */
		rop[0] = WAIT;  rtg[0] = 1;          /* r0's release: <-r1.Done() */
#endif
		r = 0;
		do
		:: r < NK -> run killer(r); r++
		:: else -> break
		od;
#ifdef HOLDER
		run holder();
#endif
		r = 0
	};
	(ndone == NK + NHOLD && nfl == 0);
	assert(qn == 0 && !folding && qmu == 0);                    /* (q) */
	do
	:: r < NS -> assert(lk[r] == 0 && pend[r] == 0); r++         /* (q) */
	:: else -> break
	od;
	r = 0;
	do
	:: r < NR ->
		if
		:: tried[r] -> assert(st[r] == FOLDED && nfold[r] == 1 && claimed[r] && nrel[r] == 1)  /* (f) */
		:: else -> assert(st[r] == LIVE && nfold[r] == 0 && !claimed[r] && nrel[r] == 0)
		fi;
		r++
	:: else -> break
	od;
	fin = 1
}
