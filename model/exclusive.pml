/*
 * exclusive.pml -- a Promela model of percpuref.Ref's exclusive protocol
 * (fastpath.Exclusive: the single-writer update of atomic_amd64.s and
 * atomic_arm64.s, with a busy mark packed into the cell's count, and
 * membarrier), as argued in percpuref/protocol.go and at the steps of
 * percpuref/switch.go, and coded in percpu.go (UpdateLocal, Stable) and
 * package percpuref (Init, the exclusive branches of toAtomicLocked,
 * toPercpuLocked and settle, and countLocked).
 *
 * A cell is one 64-bit word, the count. An update loads it (v), stores
 * v + BUSY (the busy mark: any value above LIVE is busy), loads the state
 * word, and stores either v + d (counted) or v back (refused). Readers wait
 * out the mark with Stable. Nobody but the updates of the cell's P ever
 * stores to a cell: the switches leave the cells as they are, and the
 * switch back to per-CPU mode and Init absorb what the cells hold into C.
 *
 * The hardware is x86-TSO: each goroutine that updates cells has a FIFO
 * store buffer for its plain stores (the mark, the final store); its own
 * loads of a cell forward from the buffer; a flusher process per goroutine
 * moves the oldest buffered store to memory at any time; every locked
 * instruction (the central Add and CompareAndSwap, state Or/And, the mutex)
 * waits until the issuing goroutine's buffer is empty. README.md argues that
 * arm64's orderings for this sequence are the same.
 *
 * Slot reuse: the Ref may have got its cells from a dead Ref A (shard's slot
 * arena never clears a slot). The cells then start with A's leftovers
 * (LEFTOVER), and a stale update of A (STALE) may run the update sequence on
 * any cell, on that cell's P, at any time: it loads A's state, which is
 * never Live again, so it stores the mark and then the value it loaded.
 *
 * Everything about the central count, the bias, release and the mode
 * changes is as in percpuref.pml; ghost variables and assertions are the
 * same, plus: a busy mark is seen only while an update of that cell is in
 * flight (Stable terminates), and at the end no cell is busy and Read
 * (countLocked, with Stable) is exact even while stale updates run.
 *
 * Configuration macros (spin -D...):
 *   NUSER, UOPS, NCTL, COPS, START_ATOMIC, START_DEAD, HARVEST_ONLY
 *                 as in percpuref.pml (defaults 2, 1, 1, 2)
 *   NOFARCELL     leave out the P id beyond the last cell (UpdateLocal's
 *                 p > Last case, which goes to C without touching a cell)
 *   LEFTOVER      the cells start with what a previous owner of the slots
 *                 left: each cell nondeterministically -LIVE..LIVE; Init
 *                 absorbs them (C = BIAS + refs - sum)
 *   STALE         adds a goroutine that makes STALE stale updates of the
 *                 previous owner (-DSTALE: one), on any cell, at any time
 *                 from before Init on
 *   CAP           store-buffer entries per goroutine; default the most a
 *                 goroutine can have pending (README)
 * Mutants (each must produce an assertion violation):
 *   MUTANT_TIGHTRANGE the per-CPU range of C starts at the bias, with no
 *                     room for what the cells hold
 *   MUTANT_NOBARRIER  the switch to atomic makes no membarrier
 *   MUTANT_NOWAIT     the switch to atomic reads the cells with plain loads,
 *                     not Stable (no wait for the busy mark)
 *   MUTANT_MARKLATE   the update stores its busy mark after its state load
 *   MUTANT_NORESTORE  a refused update leaves its busy mark on the cell
 *   MUTANT_ZERO       toPercpuLocked zeroes the cells (locked Swap(0) each)
 *                     instead of absorbing what they hold
 *   MUTANT_NOABSORB   Init and toPercpuLocked ignore what the cells hold
 *                     (neither zero nor absorb)
 *   MUTANT_PLAINREAD  Init, toPercpuLocked and Read load the cells with
 *                     plain loads, not Stable
 *   MUTANT_STALELIVE  the stale updater may find its (old) Ref Live again
 *                     and count on the reused cell: the reuse condition
 */

#ifndef NUSER
#define NUSER 2
#endif
#ifndef UOPS
#define UOPS 1
#endif
#ifndef NCTL
#define NCTL 1
#endif
#ifndef COPS
#define COPS 2
#endif
#ifdef STALE
#define NSTALEW 1
#else
#define NSTALEW 0
#endif
#define NW (NUSER + NSTALEW)  /* goroutines with store buffers: users, then the stale one */
#ifndef CAP
#if defined(STALE) && 2*STALE > 2*(1+2*UOPS)
#define CAP (2*STALE)
#else
#define CAP (2*(1+2*UOPS))
#endif
#endif

/* ---- scaled constants (Go value in the comment) ---- */
#define BIAS      64       /* bias      = 1<<61                   */
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
#define LIVE      1        /* CellLimit = liveLimit = 1<<48       */
#define BUSY      16       /* busyMark  = 1<<60                   */
#define inRange(x) ((x) >= -LIVE && (x) <= LIVE)

#ifdef START_DEAD
#define UHELD 0
#define DEADLIFE(l) ((l) == 0)
#else
#define UHELD 1
#define DEADLIFE(l) 0
#endif

#define stInit     1
#define stAtomic   2
#define stDying    4
#define stReleased 16
#define stPercpu   stInit  /* cells.Live */

/* ---- the Ref, in memory ---- */
short C;              /* Ref.count                                       */
byte  S;              /* Ref.cells.State                                 */
short w[2];           /* the cells: count, or count + BUSY while busy    */
bit   mu;             /* the Ref's lock (a stripe of refLocks)           */
bit   sticky;         /* opts&optSticky, guarded by mu                   */

/* ---- the machine ---- */
bit   wl[2];          /* cell i's P is taken by a goroutine in an update */
byte  lastw[2];       /* 1+goroutine with stores to cell i still buffered, or 0 */
byte  pc[2];          /* stores to cell i still buffered (any goroutine) */
/* store buffers: entry k of goroutine u at [u*CAP+k]: cell ba, value bv;
 * unused entries are 0 */
byte  ba[NW*CAP];
short bv[NW*CAP];
byte  bn[NW+1];       /* bn[NW]: the controller's, always empty          */

/* ---- ghost (as in percpuref.pml) ---- */
byte held;
byte own;
byte life;
byte rel[NCTL*COPS+1];
byte pending;
bit  killed;
byte epoch;
byte ndone;
bit  sdone;           /* the stale updates are over                      */

/* move the oldest store of goroutine g's buffer to memory (k: scratch) */
inline flush1(g) {
	w[ba[g*CAP]] = bv[g*CAP];
	pc[ba[g*CAP]]--;
	if :: pc[ba[g*CAP]] == 0 -> lastw[ba[g*CAP]] = 0 :: else -> skip fi;
	k = 0;
	do
	:: k + 1 < bn[g] -> ba[g*CAP+k] = ba[g*CAP+k+1]; bv[g*CAP+k] = bv[g*CAP+k+1]; k++
	:: else -> break
	od;
	ba[g*CAP+k] = 0; bv[g*CAP+k] = 0;
	bn[g]--;
	k = 0
}

/* the store buffer of goroutine g drains to memory, oldest first, at any time */
proctype flusher(byte g) {
	byte k;
end:
	do
	:: d_step { bn[g] > 0 -> flush1(g) }
	od
}

/* a plain store by goroutine u to cell a of value x enters its buffer */
inline push(a, x) {
	assert(bn[u] < CAP);
	ba[u*CAP + bn[u]] = a; bv[u*CAP + bn[u]] = x; bn[u]++;
	pc[a]++; lastw[a] = u + 1
}

/* v = cell i as goroutine u loads it: its newest buffered store to it,
 * else memory */
inline loadCell() {
	v = w[i];
	k = 0;
	do
	:: k < bn[u] -> if :: ba[u*CAP+k] == i -> v = bv[u*CAP+k] :: else -> skip fi; k++
	:: else -> break
	od;
	k = 0
}

/* take cell i's P for an update: no other goroutine holds it, and none has
 * stores to it still buffered (README: how a P passes between goroutines) */
#define FREE(j) (wl[j] == 0 && (pc[j] == 0 || lastw[j] == u + 1))

/*
 * v = cells.Stable(w[j]), by a goroutine without buffered stores (the
 * controller, init): load until the value is not busy. Each busy load
 * checks that an update of the cell is in flight (its goroutine holds the
 * P, or its stores are still buffered), without which Stable would never
 * return.
 */
inline stable(j) {
	do
	:: atomic { w[j] <= LIVE -> v = w[j]; break }
	:: atomic { w[j] > LIVE -> assert(wl[j] || pc[j] > 0) }   /* Gosched, reload */
	od;
	assert(v >= -LIVE)
}

/* how Init, toPercpuLocked and Read load a cell */
#ifndef MUTANT_PLAINREAD
#define readCell(j) stable(j)
#else
#define readCell(j) v = w[j]
#endif

/* locked instructions wait for the issuing goroutine's buffer to drain.
 * The controller (u == NW) makes no plain stores to shared memory: its
 * buffer is always empty. */
#define UDRAINED (bn[u] == 0)
inline ulock()   { atomic { UDRAINED && mu == 0 -> mu = 1 } }
inline uunlock() { atomic { UDRAINED -> mu = 0 } }
inline lock()    { atomic { mu == 0 -> mu = 1 } }
inline unlock()  { mu = 0 }

/* runRelease (release.go): claim under mu, then release, then close(done) */
inline runRelease() {
	ulock();
	atomic {
		st = S; S = S | stReleased;         /* state.Or(stReleased) */
		assert((st & stReleased) == 0);
		rel[zl]++;
		assert(rel[zl] == 1);
		assert(zl == life)
	};
	uunlock();
	atomic { pending--; zl = 0; st = 0 }    /* release returned; close(done) */
}

/* putCentral(1): ok := this call released */
inline putCentral(owner) {
	atomic {
		UDRAINED -> C = C - 1; v = C;             /* count.Add(-1) */
		held--;
		if :: owner -> own-- :: else -> skip fi;
		if
		:: v == 0 -> assert(held == 0); zl = life; pending++
		:: else -> skip
		fi
	};
	assert(v >= 0);
	assert(RANGEOK(v));                     /* no misuse reported in a valid run */
	if
	:: v == 0 -> v = 0; runRelease(); ok = 1
	:: else -> v = 0; ok = 0
	fi
}

inline getCentral() {
	atomic { UDRAINED -> C = C + 1; v = C; held++ };
	assert(v - 1 > 0);
	assert(RANGEOK(v));
	v = 0
}

inline tryGetCentral(live) {
	st = S;                                 /* state.Load(): a plain MOV */
	if
	:: live && (st & stDying) -> ok = 0
	:: else ->
		do
		:: v = C;                           /* count.Load() */
			if
			:: v == 0 -> ok = 0; break
			:: else ->
				atomic {                    /* CompareAndSwap: locked */
					UDRAINED ->
					if
					:: C == v -> C = v + 1; held++; ok = 1; assert(RANGEOK(C));
						assert(!(live && ka && ep == epoch))
					:: else -> ok = 0
					fi
				};
				if :: ok -> break :: else -> skip fi
			fi
		od
	fi;
	st = 0; v = 0
}

/*
 * UpdateLocal(d) by user u, on the P of cell i: ok := stored. As in
 * atomic_amd64.s, one model step each:
 *   MOVQ (AX), DI; MOVQ DI+mark, (AX)   v = count (forwarded); count = v + BUSY
 *   CMPL (CX), $1                        load S
 *   MOVQ v+d, (AX)  or  MOVQ v, (AX)     stored, or refused (restore)
 * The load of v and the mark's store are one step: nobody else stores to
 * the cell while its P is held (but see MUTANT_ZERO, whose Swap(0) then
 * falls between the mark and the final store, which suffices to catch it).
 */
inline update(d, live) {
	atomic {                                /* the P: any, it may migrate */
		if
		:: FREE(0) -> i = 0
		:: FREE(1) -> i = 1
#ifndef NOFARCELL
		:: i = 2                            /* p > Last: straight to C */
#endif
		fi;
		if
		:: i < 2 -> wl[i] = 1; loadCell();
#ifndef MUTANT_MARKLATE
			push(i, v + BUSY)               /* count = v + busyMark */
#endif
		:: else -> skip
		fi
	};
	if
	:: i == 2 -> ok = 0
	:: else ->
		atomic {                            /* CMPL (CX), $1: load S */
			ka = (live -> killed : 0);      /* ghost: TryGetLive starts */
			ep = (live -> epoch : 0);
			st = S
#ifdef MUTANT_MARKLATE
		};
		atomic {
			push(i, v + BUSY)               /* the mark, after the state load */
#endif
		};
		atomic {                            /* the final store; procUnpin */
			if
			:: st == stPercpu && inRange(v + d) ->
				push(i, v + d); ok = 1;     /* count = v + d */
				held = held + d;
				assert(!(live && ka && ep == epoch))
			:: else ->
#ifndef MUTANT_NORESTORE
				push(i, v);                 /* count = v: refused */
#endif
				ok = 0
			fi;
			wl[i] = 0
		}
	fi;
	st = 0; v = 0; i = 0
}

proctype user(byte u) {
	byte h = UHELD;
	byte n;
	short v;
	byte st, i, zl, ep, k;
	bit ok, ka;

	do
	:: n < UOPS ->
		n++;
		if
		:: h > 0 -> update(1, 0);  if :: !ok -> getCentral() :: else -> skip fi; h++; ok = 0
		:: h > 0 -> update(-1, 0); if :: !ok -> putCentral(0) :: else -> skip fi; h--; ok = 0
		:: update(1, 0); if :: !ok -> tryGetCentral(0) :: else -> skip fi;
			if :: ok -> h++ :: else -> skip fi; ok = 0
		:: update(1, 1); if :: !ok -> tryGetCentral(1) :: else -> skip fi;
			if :: ok -> h++ :: else -> skip fi; ok = 0; ka = 0; ep = 0
		fi
	:: else -> break
	od;
	do
	:: h > 0 -> update(-1, 0); if :: !ok -> putCentral(0) :: else -> skip fi; h--; ok = 0
	:: else -> break
	od;
	ndone++
}

#ifdef STALE
/*
 * STALE stale updates of the slots' previous owner A, by goroutine u (one
 * goroutine; its P may be any cell's, on each update): the update sequence
 * with A's state, which is never Live again, so each stores the mark and
 * then the value it loaded. With MUTANT_STALELIVE, A's state may read Live
 * (A came back to life with other cells): the update then counts +1 on the
 * reused cell, for A.
 */
proctype stale(byte u) {
	byte n, i, k;
	short v;
	do
	:: n < STALE ->
		n++;
		atomic {
			if
			:: FREE(0) -> i = 0
			:: FREE(1) -> i = 1
			fi;
			wl[i] = 1; loadCell();
			push(i, v + BUSY)
		};
		atomic {                            /* A's state: not Live */
#ifndef MUTANT_STALELIVE
			push(i, v);
#else
			if
			:: push(i, v)
			:: inRange(v + 1) -> push(i, v + 1)
			fi;
#endif
			wl[i] = 0
		};
		i = 0; v = 0
	:: else -> break
	od;
	sdone = 1
}
#endif

/* membarrier's full barrier on goroutine g's CPU: its buffer drains */
inline barrierOn(g) {
	d_step {
		do
		:: bn[g] > 0 -> flush1(g)
		:: else -> break
		od
	}
}

/* toAtomicLocked(bits), exclusive branch */
inline toAtomic(bits) {
	atomic { st = S; S = S | stAtomic | bits };   /* state.Or */
	if
	:: st & stAtomic -> skip
	:: else ->
#ifndef MUTANT_NOBARRIER
		/* fastpath.Quiesce: membarrier; the IPI reaches each CPU at its own
		 * point, the goroutines run in between */
		barrierOn(0);
#if NW > 1
		barrierOn(1);
#endif
#if NW > 2
		barrierOn(2);
#endif
#if NW > 3
		barrierOn(3);
#endif
#endif
#ifndef MUTANT_NOWAIT
		stable(0); sum = v;                         /* cells.Stable(Cell(i)) */
		stable(1); sum = sum + v;
#else
		sum = w[0];                                 /* Cell(i).Load() */
		sum = sum + w[1];
#endif
		atomic { C = C + sum - BIAS; v = C };       /* count.Add(sum-bias) */
		assert(v > 0)
	fi;
	sum = 0; v = 0
}

/* toPercpuLocked, exclusive branch: sum = settle() (Σ Stable); then
 * count CAS v -> v + bias - sum unless v == 0; then state.And */
inline toPercpu() {
#if !defined(MUTANT_ZERO) && !defined(MUTANT_NOABSORB)
	readCell(0); sum = v;
	readCell(1); sum = sum + v;
#endif
	do
	:: v = C;
		if
		:: v == 0 -> ok = 0; break
		:: else ->
			atomic { if :: C == v -> C = v + BIAS - sum; ok = 1 :: else -> ok = 0 fi };
			if :: ok -> break :: else -> skip fi
		fi
	od;
	if
	:: ok ->
#ifdef MUTANT_ZERO
		w[0] = 0;                                   /* Swap(0): locked */
		w[1] = 0;
#endif
		S = S & ~stAtomic                           /* state.And */
	:: else -> skip
	fi;
	v = 0; ok = 0; sum = 0
}

proctype controller(bit mayReinit) {
	byte u = NW;          /* no store buffer: see UDRAINED */
	byte n, st, zl, kep, k;
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
			:: st & stDying -> unlock()
			:: else ->
				kep = epoch;
				toAtomic(stDying);
				unlock();
				putCentral(1);
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
			:: (st & stDying) == 0 -> skip
			:: else ->
				pn = !sticky;
				do
				:: v = C;
					if
					:: v <= 0 -> ok = 0; break
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
		/* Reinit, called as in percpuref.pml's default: once the previous
		 * life's release has returned, or while the owner holds a
		 * reference (ErrNotZero) */
		:: mayReinit && ((own > 0 && NCTL == 1) ||
		                 (pending == 0 && (rel[life] == 1 || DEADLIFE(life)))) ->
			lock();
			st = S;
			do
			:: (st & stAtomic) && (st & stReleased) == 0 ->
				v = C;
				if
				:: v == 0 -> unlock(); lock(); st = S
				:: else -> break
				fi
			:: else -> break
			od;
			v = 0;
			pn = !sticky;
			if
			:: (st & stAtomic) == 0 -> skip
			:: (st & stReleased) == 0 -> skip           /* ErrNotZero: no claim, no Reinit (switch.go) */
			:: else ->
				atomic { if :: C == 0 -> C = 1; held++; own++; life++; ok = 1 :: else -> ok = 0 fi };
				if
				:: ok ->
					atomic { S = S & ~(stDying | stReleased); killed = 0; epoch++ };
					if :: pn -> toPercpu() :: else -> skip fi
				:: else -> skip
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
	short v, sum;
	atomic {
#ifdef LEFTOVER
		/* what the slots' previous owner left: anything in range */
		if :: w[0] = -LIVE :: w[0] = 0 :: w[0] = LIVE fi;
		if :: w[1] = -LIVE :: w[1] = 0 :: w[1] = LIVE fi;
#endif
#ifdef STALE
		run flusher(NUSER); run stale(NUSER);
#endif
		k = 0
	};
#ifdef START_DEAD
	atomic { C = 0; S = stInit | stAtomic | stDying | stReleased };
#elif defined(START_ATOMIC)
	atomic { held = 1 + NUSER; own = 1; C = 1 + NUSER; S = stInit | stAtomic; sticky = 1 };
#else
	/* Init: count.Store(bias + refs - settle()); state.Store(stPercpu)
	 * (the owner's reference and, taken by the owner for them, one per user) */
#ifndef MUTANT_NOABSORB
	readCell(0); sum = v;
	readCell(1); sum = sum + v;
#endif
	atomic { held = 1 + NUSER; own = 1; C = BIAS + 1 + NUSER - sum; S = stPercpu };
#endif
	atomic {
		v = 0; sum = 0;
		k = 0;
		do
		:: k < NUSER -> run user(k); run flusher(k); k++
		:: else -> break
		od;
		k = 0;
		do
		:: k < NCTL -> run controller(k == 0); k++
		:: else -> break
		od;
		k = 0
	};
	/* everyone done and every user's buffer drained (the owner learns that
	 * they are done through locked instructions) */
	ndone == NUSER + NCTL;
	k = 0;
	do
	:: k < NUSER -> bn[k] == 0; k++
	:: else -> break
	od;
	k = 0;
	assert(pending == 0);
	assert(own + 0 <= 1);
	/* Read (countLocked), with stale updates possibly still running: exact */
	if
	:: S & stAtomic ->
		assert(C == held)
	:: else ->
		readCell(0); sum = v;
		readCell(1); sum = sum + v;
		assert(C - BIAS + sum == held);
		assert((S & stDying) == 0)
	fi;
	v = 0; sum = 0;
	if
	:: held == 0 && DEADLIFE(life) -> assert(rel[0] == 0); assert(S & stReleased)
	:: held == 0 && !DEADLIFE(life) -> assert(rel[life] == 1); assert(S & stReleased)
	:: else -> assert(rel[life] == 0); assert((S & stReleased) == 0)
	fi;
	/* and once the stale updates are over too: no cell is left busy, and
	 * memory itself holds the exact count */
#ifdef STALE
	sdone && bn[NUSER] == 0;
#endif
	assert(inRange(w[0]) && inRange(w[1]));
	assert((S & stAtomic) || C - BIAS + w[0] + w[1] == held)
}
