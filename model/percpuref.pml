/*
 * percpuref.pml -- a Promela model of percpuref.Ref's mode-switch protocol
 * (swap-to-dead cells), as argued in percpuref/protocol.go and coded in
 * package percpuref. See README.md for the scaling argument and the mapping
 * from Go steps to model steps.
 *
 * Every Go sync/atomic operation (Load, Add, Swap, CompareAndSwap, Or, And)
 * is one atomic Promela step. Steps that touch only a goroutine's own
 * locals are free to merge. Ghost variables (marked "ghost") are updated in
 * the same atomic step as the linearization point they describe and are
 * never read by the modelled code.
 *
 * Configuration macros (set with spin -D...):
 *   NUSER   user goroutines (Get/Put/TryGet/TryGetLive)     default 2
 *   UOPS    operations per user before it puts what it holds default 2
 *   NCTL    controller goroutines (mode changes)             default 1
 *   COPS    mode-change operations per controller            default 3
 *   START_ATOMIC  start as New(release, InitAtomic())        default off
 *   START_DEAD    start as New(release, InitDead()): count 0, dying,
 *                 nothing to release; users start with no reference
 *   HARVEST_ONLY  the controller only calls Kill and SwitchToAtomic
 *   REINIT_ANYTIME  let Reinit be called at any time, not only once the
 *                 previous life's release has returned (README: "Reinit
 *                 and the last Put's release")
 *   REINIT_AFTER_ZERO  let Reinit also be called as soon as IsZero() is
 *                 true, before the zeroing Put has claimed its release
 *   MUTANT_REINIT_COUNTONLY  a Reinit that may attempt its CAS while the
 *                 release is unclaimed (README: "Reinit and the last Put's release")
 *   RELEASE_NOASSERT  check only the end state, not release's own
 *                 assertions (shows what the mutant leads to)
 * Mutants (each must produce an assertion violation):
 *   MUTANT_NOBIAS       the central count never carries the bias
 *   MUTANT_TIGHTRANGE   the per-CPU range of C starts at the bias, with no
 *                       room for what the cells hold
 *   MUTANT_SHARDWISE    harvest folds each cell into C as it is swapped,
 *                       with the bias removed up front
 *   MUTANT_NODEADCHECK  an add that lands on a dead cell is not redone
 *   MUTANT_LIVENODYING  TryGetLive's central path ignores stDying
 *   MUTANT_UNDO         an add that lands on a dead cell is undone on that
 *                       cell before it is redone on C (the pitfall that
 *                       protocol.go avoids: the undo may hit a re-opened cell)
 */

#ifndef NUSER
#define NUSER 2
#endif
#ifndef UOPS
#define UOPS 2
#endif
#ifndef NCTL
#define NCTL 1
#endif
#ifndef COPS
#define COPS 3
#endif

/* ---- scaled constants (Go value in the comment) ---- */
#ifdef MUTANT_NOBIAS
#define BIAS      0
#else
#define BIAS      64       /* bias      = 1<<61 */
#endif
/* The ranges of C (protocol.go): a result of an add on C is 0, in
 * [1, MAXC] (atomic mode) or in [PCLOW, PCHIGH] (per-CPU mode); percpuref
 * reports anything else as misuse, so no valid run may produce it. */
#define MAXC      32       /* MaxCount  = 1<<60                   */
#ifdef MUTANT_TIGHTRANGE
#define PCLOW     BIAS     /* no room for what the cells hold     */
#else
#define PCLOW     (BIAS - 16) /* percpuLow = bias - 1<<59         */
#endif
#define PCHIGH    (BIAS + MAXC + 16) /* percpuHigh                */
#define RANGEOK(x) ((x) == 0 || ((x) >= 1 && (x) <= MAXC) || ((x) >= PCLOW && (x) <= PCHIGH))
#define DEADCELL  (-128)   /* deadCell  = -(1<<62) = -2*bias */
#define DEADBELOW (-64)    /* deadBelow = -(1<<61) = -bias   */
#define LIVE      1        /* liveLimit = 1<<48              */
#define isLive(x) ((x) >= -LIVE && (x) <= LIVE)

#ifdef START_DEAD
#define UHELD 0
#define DEADLIFE(l) ((l) == 0)   /* InitDead's life 0 has nothing to release */
#else
#define UHELD 1
#define DEADLIFE(l) 0
#endif

/* state bits (percpuref/ref.go): stInit, stAtomic, stDying, stExited(unused), stReleased */
#define stInit     1
#define stAtomic   2
#define stDying    4
#define stReleased 16
#define stPercpu   stInit

/* ---- the Ref ---- */
short C;              /* Ref.count, the central count                    */
byte  S;              /* Ref.cells.State, the state word                 */
short cell[2];        /* the cells (Ref.cells): 2                        */
bit   mu;             /* the Ref's lock (a stripe of refLocks)           */
bit   sticky;         /* opts&optSticky, guarded by mu                   */

/* ---- ghost ---- */
byte held;            /* references logically held by anyone             */
byte own;             /* of which, the owner's (initial) references      */
byte life;            /* incremented by each successful Reinit           */
byte rel[NCTL*COPS+1];/* releases run, per life                          */
byte pending;         /* zeros reached whose release has not yet returned*/
bit  killed;          /* a Kill has returned and no Resurrect/Reinit since*/
byte epoch;           /* incremented by each Resurrect/Reinit            */
byte ndone;           /* finished goroutines                             */

inline lock()   { atomic { mu == 0 -> mu = 1 } }
inline unlock() { mu = 0 }

/* runRelease, for the add that took C to 0 in life zl (release.go):
 *   mu.Lock(); if state.Or(stReleased)&stReleased != 0 { mu.Unlock(); return }
 *   done := doneLocked(); mu.Unlock(); release(); close(done)
 * The claim and the Done channel are taken under mu, so a Reinit (which
 * holds mu from its checks to its CAS) cannot start a life in between. */
inline runRelease() {
	lock();
	atomic {
		st = S; S = S | stReleased;         /* state.Or(stReleased) */
#ifndef RELEASE_NOASSERT
		/* a second zero needs misuse; none is modelled */
		assert((st & stReleased) == 0);
		rel[zl]++;                          /* ghost: release() will run */
		assert(rel[zl] == 1);               /* once per life */
		assert(zl == life)                  /* in the life that reached 0 */
#else
		/* as in Go: a zero that finds stReleased set runs nothing */
		if :: (st & stReleased) == 0 -> rel[zl]++ :: else -> skip fi
#endif
	};
	unlock();                               /* doneLocked() made no shared step */
	atomic { pending--; zl = 0; st = 0 }    /* release returned; close(done) */
}

/* putCentral(n=1, mu=nil): ok := this call released */
inline putCentral(owner) {
	atomic {
		C = C - 1; v = C;                   /* count.Add(-1) */
		held--;                             /* ghost: linearization */
		if :: owner -> own-- :: else -> skip fi;
		if
		:: v == 0 -> assert(held == 0); zl = life; pending++
		:: else -> skip
		fi
	};
	assert(v >= 0);
	assert(RANGEOK(v));                     /* no misuse reported in a valid run */                         /* ErrUnderflow never without misuse */
	if
	:: v == 0 -> v = 0; runRelease(); ok = 1
	:: else -> v = 0; ok = 0
	fi
}

/* getCentral(n=1) */
inline getCentral() {
	atomic { C = C + 1; v = C; held++ };    /* count.Add(1) */
	assert(v - 1 > 0);
	assert(RANGEOK(v));                      /* ErrReleased: the caller holds one */
	v = 0
}

/* tryGetCentral(n=1, live): ok := took a reference */
inline tryGetCentral(live) {
	st = S;                                 /* state.Load() */
	if
#ifndef MUTANT_LIVENODYING
	:: live && (st & stDying) -> ok = 0
#endif
	:: else ->
		do
		:: v = C;                           /* count.Load() */
			if
			:: v == 0 -> ok = 0; break
			:: else ->
				atomic {                    /* count.CompareAndSwap(v, v+1) */
					if
					:: C == v -> C = v + 1; held++; ok = 1; assert(RANGEOK(C));
						assert(!(live && ka && ep == epoch))
					:: else -> ok = 0
					fi
				};
				if
				:: ok -> break
				:: else -> skip
				fi
			fi
		od
	fi;
	st = 0; v = 0
}

/* offRange: the add stood on a cell out of the live range (drift); with
 * mu held and the Ref still per-CPU, fold every cell that is not live */
inline foldCell(j) {
	v = cell[j];                            /* c.Load() */
	if
	:: !isLive(v) ->
		atomic { v = cell[j]; cell[j] = 0 }; /* c.Swap(0) */
		C = C + v                           /* count.Add(v) */
	:: else -> skip
	fi
}
inline fold() {
	lock();
	if
	:: S == stPercpu ->                     /* state.Load() == stPercpu */
		foldCell(0); foldCell(1)
	:: else -> skip
	fi;
	unlock();
	v = 0
}

/*
 * fastAdd(d): ok := the add on a cell stands; otherwise redo on C.
 * live: this is TryGetLive (for the ghost check).
 *
 * In Go this is fetchAddOrLazy(d): fastpath.AddLocal pins the goroutine to its P,
 * loads Base and State (refusing unless State is Live and Base is not nil;
 * Base is nil once the cells are given back, which AllowReinit rules out
 * here), adds, and unpins. The load of S below is AddLocal's State check;
 * a check made before AddLocal, if any, only sends some operations to C
 * earlier, as this load would if it saw the switch. The pinning (no
 * stop-the-world, so no GC cycle, can begin between the check and the add)
 * matters only for slot reuse, which this model leaves out: the Ref keeps
 * its cells, and shard's arena lets another Ref have a retired slot only
 * after a GC cycle that began after the retirement, by which time every
 * AddLocal that saw this Ref Live has added. Nothing here changes with it.
 */
inline fastAdd(d, live) {
	atomic {
		ka = (live -> killed : 0);          /* ghost: TryGetLive starts */
		ep = (live -> epoch : 0);
		st = S                              /* state.Load() */
	};
	if
	:: st != stPercpu -> ok = 0
	:: else ->
		atomic {                            /* AddLocal: Cell(p).Add(d) - d    */
			if                              /* the P may be any: migration */
			:: i = 0
			:: i = 1
			fi;
			old = cell[i]; cell[i] = cell[i] + d;
#ifndef MUTANT_NODEADCHECK
			if
			:: old >= DEADBELOW ->
#endif
				held = held + d;            /* ghost: counted on the cell */
				assert(!(live && ka && ep == epoch))
#ifndef MUTANT_NODEADCHECK
			:: else -> skip                 /* void: will be redone on C */
			fi
#endif
		};
		if
		:: isLive(old) -> ok = 1
#ifndef MUTANT_NODEADCHECK
#ifndef MUTANT_UNDO
		:: old < DEADBELOW -> ok = 0
#else
		:: old < DEADBELOW -> cell[i] = cell[i] - d; ok = 0   /* "undo" the void add */
#endif
		:: !isLive(old) && old >= DEADBELOW -> fold(); ok = 1
#else
		:: !isLive(old) -> fold(); ok = 1
#endif
		fi
	fi;
	st = 0; old = 0; i = 0
}

proctype user() {
	byte h = UHELD;       /* references this goroutine holds */
	byte n;               /* operations done */
	short old, v;
	byte st, i, zl, ep;
	bit ok, ka;

	do
	:: n < UOPS ->
		n++;
		if
		:: h > 0 -> fastAdd(1, 0);  if :: !ok -> getCentral() :: else -> skip fi; h++          /* Get */
		:: h > 0 -> fastAdd(-1, 0); if :: !ok -> putCentral(0) :: else -> skip fi; h--; ok = 0  /* Put */
		:: fastAdd(1, 0); if :: !ok -> tryGetCentral(0) :: else -> skip fi;                       /* TryGet */
			if :: ok -> h++ :: else -> skip fi; ok = 0
		:: fastAdd(1, 1); if :: !ok -> tryGetCentral(1) :: else -> skip fi;                       /* TryGetLive */
			if :: ok -> h++ :: else -> skip fi; ok = 0; ka = 0; ep = 0
		fi
	:: else -> break
	od;
	do
	:: h > 0 -> fastAdd(-1, 0); if :: !ok -> putCentral(0) :: else -> skip fi; h--; ok = 0
	:: else -> break
	od;
	ndone++
}

/* toAtomicLocked(bits) */
inline toAtomic(bits) {
	atomic { st = S; S = S | stAtomic | bits };  /* state.Or */
	if
	:: st & stAtomic -> skip
	:: else ->
#ifndef MUTANT_SHARDWISE
		atomic { sum = sum + cell[0]; cell[0] = DEADCELL };  /* Swap(deadCell) */
		atomic { sum = sum + cell[1]; cell[1] = DEADCELL };
		atomic { C = C + sum - BIAS; v = C };                /* count.Add(sum-bias) */
#else
		C = C - BIAS;
		atomic { sum = cell[0]; cell[0] = DEADCELL };
		atomic { C = C + sum; v = C };
		atomic { sum = cell[1]; cell[1] = DEADCELL };
		atomic { C = C + sum; v = C };
#endif
		assert(v > 0)       /* the fold finds the owner's reference at least */
	fi;
	sum = 0; v = 0
}

/* toPercpuLocked */
inline toPercpu() {
	do
	:: v = C;                                       /* count.Load() */
		if
		:: v == 0 -> ok = 0; break
		:: else ->
			atomic { if :: C == v -> C = v + BIAS; ok = 1 :: else -> ok = 0 fi };
			if :: ok -> break :: else -> skip fi
		fi
	od;
	if
	:: ok ->
		cell[0] = 0;                                /* Swap(0) */
		cell[1] = 0;
		S = S & ~stAtomic                           /* state.And */
	:: else -> skip
	fi;
	v = 0; ok = 0
}

proctype controller(bit mayReinit) {
	byte n, st, zl, kep;
	short v, sum;
	bit ok, pn;

	do
	:: n < COPS ->
		n++;
		if
		:: /* KillAndConfirm(nil) */
			lock();
			st = S;
			if
			:: st & stDying -> unlock()                 /* ErrKilled, no change */
			:: else ->
				kep = epoch;
				toAtomic(stDying);
				unlock();
				putCentral(1);            /* drop the initial reference */
				atomic { if :: kep == epoch -> killed = 1 :: else -> skip fi; kep = 0 }
			fi
		:: /* SwitchToAtomic(nil) */
			lock();
			sticky = 1;
			toAtomic(0);
			unlock()
#ifndef HARVEST_ONLY
		:: /* SwitchToPercpu */
			lock();
			st = S;
			sticky = 0;
			if
			:: (st & stAtomic) == 0 || (st & stDying) -> skip
			:: else -> toPercpu()
			fi;
			unlock()
		:: /* Resurrect */
			lock();
			st = S;
			if
			:: (st & stDying) == 0 -> skip              /* ErrLive */
			:: else ->
				pn = !sticky;
				do
				:: v = C;
					if
					:: v <= 0 -> ok = 0; break          /* ErrReleased */
					:: else ->
						atomic { if :: C == v -> C = v + 1; held++; own++; ok = 1 :: else -> ok = 0 fi };
						if :: ok -> break :: else -> skip fi
					fi
				od;
				if
				:: ok ->
					atomic { S = S & ~stDying; killed = 0; epoch++ };
					if :: pn -> toPercpu() :: else -> skip fi
				:: else -> skip
				fi
			fi;
			unlock()
#ifdef REINIT_ANYTIME
		:: mayReinit ->
#elif defined(REINIT_AFTER_ZERO)
		/* as below, and also as soon as IsZero() is true (atomic mode,
		 * count 0), which may be before the zeroing Put has claimed its
		 * release: the window of the Reinit race, which Reinit now waits
		 * out (TestReinitRacingTheLastPut's pattern) */
		:: mayReinit && ((own > 0 && NCTL == 1) ||
		                 (pending == 0 && (rel[life] == 1 || DEADLIFE(life))) ||
		                 ((S & stAtomic) && C == 0)) ->
#else
		/* The caller serialises Reinit against the previous life: it calls
		 * it once release has returned (from release, or after Done), or
		 * while it holds a reference (then Reinit is ErrNotZero). With two
		 * controllers only one calls Reinit, and only after release: the
		 * other could otherwise kill the Ref between its check and Reinit. */
		:: mayReinit && ((own > 0 && NCTL == 1) ||
		                 (pending == 0 && (rel[life] == 1 || DEADLIFE(life)))) ->
#endif
			/* Reinit (switch.go): lockControl; while the Ref is atomic, the
			 * release unclaimed and count.Load() == 0, unlock, yield,
			 * relock and reload S (the zeroing Put claims under mu); then
			 * CompareAndSwap(0, 1), And(^(stDying|stReleased)), and
			 * toPercpuLocked unless sticky. */
			lock();
			st = S;
			do
			:: (st & stAtomic) && (st & stReleased) == 0 ->
				v = C;                                  /* count.Load() */
				if
				:: v == 0 -> unlock(); lock(); st = S   /* Gosched; lockControl */
				:: else -> break
				fi
			:: else -> break
			od;
			v = 0;
			pn = !sticky;
			if
			:: (st & stAtomic) == 0 -> skip             /* ErrNotZero */
#ifndef MUTANT_REINIT_COUNTONLY
			/* Reinit: with the release unclaimed, never CAS. stReleased
			 * is set only under mu, which Reinit holds, so this holds up to
			 * the CAS; a count that was not 0 is ErrNotZero even if the last
			 * Put takes it to 0 after the load. (The mutant trusts the
			 * count alone.) */
			:: (st & stReleased) == 0 -> skip           /* ErrNotZero */
#endif
			:: else ->
				atomic { if :: C == 0 -> C = 1; held++; own++; life++; ok = 1 :: else -> ok = 0 fi };
				if
				:: ok ->
					atomic { S = S & ~(stDying | stReleased); killed = 0; epoch++ };
					if :: pn -> toPercpu() :: else -> skip fi
				:: else -> skip                         /* ErrNotZero */
				fi
			fi;
			unlock()
#endif
		fi;
		st = 0; ok = 0; pn = 0
	:: break
	od;
	ndone++
}

init {
	byte k;
	atomic {
#ifdef START_DEAD
		/* count 0, dying, and stReleased: no release is owed */
		C = 0; S = stInit | stAtomic | stDying | stReleased;  /* held = own = 0 */
#elif defined(START_ATOMIC)
		held = 1 + NUSER; own = 1;   /* the owner handed one reference to each user */
		C = 1 + NUSER; S = stInit | stAtomic; sticky = 1;
		/* cells are 0 and unreachable until a switch to per-CPU */
#else
		held = 1 + NUSER; own = 1;
		C = BIAS + 1 + NUSER; S = stPercpu;
#endif
		k = 0;
		do
		:: k < NUSER -> run user(); k++
		:: else -> break
		od;
		k = 0;
		do
		:: k < NCTL -> run controller(k == 0); k++
		:: else -> break
		od;
		k = 0
	};
	/* all goroutines done: the count must be exact */
	ndone == NUSER + NCTL;
	assert(pending == 0);
	assert(own + 0 <= 1);
	if
	:: S & stAtomic ->
		assert(C == held);
		assert(cell[0] < DEADBELOW || cell[0] == 0);
		assert(cell[1] < DEADBELOW || cell[1] == 0)
	:: else ->
		assert(C - BIAS + cell[0] + cell[1] == held);
		assert((S & stDying) == 0)
	fi;
	if
	:: held == 0 && DEADLIFE(life) -> assert(rel[0] == 0); assert(S & stReleased)
	:: held == 0 && !DEADLIFE(life) -> assert(rel[life] == 1); assert(S & stReleased)
	:: else -> assert(rel[life] == 0); assert((S & stReleased) == 0)
	fi
}
