/*
 * exclusive.pml -- a Promela model of percpuref.Ref's exclusive protocol
 * (percpu.Exclusive: the single-writer update of atomic_amd64.s and
 * atomic_arm64.s, with a busy flag and membarrier), as argued at the end of
 * percpuref/protocol.go and coded in percpu.go (UpdateLocal), shard.go
 * (WaitIdle) and percpuref/ref.go (toAtomicLocked's exclusive branch).
 *
 * The hardware is x86-TSO: each user goroutine has a FIFO store buffer for
 * its plain stores (busy = 1, count, busy = 0); its own loads of a cell's
 * count forward from the buffer; a flusher process per goroutine moves the
 * oldest buffered store to memory at any time; every locked instruction
 * (the central Add and CompareAndSwap, state Or/And, Swap, the mutex) waits
 * until the issuing goroutine's buffer is empty. README.md argues that
 * arm64's orderings for this sequence are the same.
 *
 * Everything about the central count, the bias, release and the mode
 * changes is as in percpuref.pml; ghost variables and assertions are the
 * same.
 *
 * Configuration macros (spin -D...):
 *   NUSER, UOPS, NCTL, COPS, START_ATOMIC, START_DEAD, HARVEST_ONLY
 *                 as in percpuref.pml (defaults 2, 1, 1, 2)
 *   NOFARCELL     leave out the P id beyond the last cell (UpdateLocal's
 *                 p > mask case, which goes to C without touching a cell)
 *   CAP           store-buffer entries per goroutine; default 3*(1+2*UOPS),
 *                 the most a goroutine can have pending (README)
 * Mutants (each must produce an assertion violation):
 *   MUTANT_NOBARRIER  the switch makes no membarrier
 *   MUTANT_NOWAIT     the switch does not wait for busy == 0
 *   MUTANT_BUSYLATE   the update clears busy before it stores the count
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
#ifndef CAP
#define CAP (3*(1+2*UOPS))
#endif

/* ---- scaled constants (Go value in the comment) ---- */
#define BIAS      64       /* bias      = 1<<61                   */
#define LIVE      1        /* CellLimit = liveLimit = 1<<48       */
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
#define stPercpu   stInit

/* ---- the Ref, in memory ---- */
short C;              /* Ref.count                                       */
byte  S;              /* Ref.state                                       */
short cnt[2];         /* each cell's count (offset 0)                    */
bit   busy[2];        /* each cell's busy flag (offset 8)                */
bit   mu;             /* Ref.mu                                          */
bit   sticky;         /* opts&optSticky, guarded by mu                   */

/* ---- the machine ---- */
bit   wl[2];          /* cell i's P is taken by a pinned goroutine       */
byte  lastw[2];       /* 1+user with stores to cell i still buffered, or 0 */
byte  pc[2];          /* stores to cell i still buffered (any goroutine) */
/* store buffers: entry k of user u at [u*CAP+k]; address 2*cell (count) or
 * 2*cell+1 (busy); unused entries are 0 */
byte  ba[NUSER*CAP];
short bv[NUSER*CAP];
byte  bn[NUSER+1];    /* bn[NUSER]: the controller's, always empty       */

/* ---- ghost (as in percpuref.pml) ---- */
byte held;
byte own;
byte life;
byte rel[NCTL*COPS+1];
byte pending;
bit  killed;
byte epoch;
byte ndone;

/* move the oldest store of user w's buffer to memory (k: scratch) */
inline flush1(w) {
	if
	:: ba[w*CAP] & 1 -> busy[ba[w*CAP] >> 1] = bv[w*CAP]
	:: else -> cnt[ba[w*CAP] >> 1] = bv[w*CAP]
	fi;
	pc[ba[w*CAP] >> 1]--;
	if :: pc[ba[w*CAP] >> 1] == 0 -> lastw[ba[w*CAP] >> 1] = 0 :: else -> skip fi;
	k = 0;
	do
	:: k + 1 < bn[w] -> ba[w*CAP+k] = ba[w*CAP+k+1]; bv[w*CAP+k] = bv[w*CAP+k+1]; k++
	:: else -> break
	od;
	ba[w*CAP+k] = 0; bv[w*CAP+k] = 0;
	bn[w]--;
	k = 0
}

/* the store buffer of user w drains to memory, oldest first, at any time */
proctype flusher(byte w) {
	byte k;
end:
	do
	:: d_step { bn[w] > 0 -> flush1(w) }
	od
}

/* a plain store by user u (a = address, x = value) enters its buffer */
inline push(a, x) {
	assert(bn[u] < CAP);
	ba[u*CAP + bn[u]] = a; bv[u*CAP + bn[u]] = x; bn[u]++;
	pc[(a) >> 1]++
}

/* v = the count of cell i as user u loads it: its newest buffered store to
 * it, else memory */
inline loadCount() {
	v = cnt[i];
	k = 0;
	do
	:: k < bn[u] -> if :: ba[u*CAP+k] == 2*i -> v = bv[u*CAP+k] :: else -> skip fi; k++
	:: else -> break
	od;
	k = 0
}

/* locked instructions wait for the issuing goroutine's buffer to drain.
 * The controller (u == NUSER) makes no plain stores to shared memory: its
 * buffer is always empty. */
#define UDRAINED (bn[u] == 0)
inline ulock()   { atomic { UDRAINED && mu == 0 -> mu = 1 } }
inline uunlock() { atomic { UDRAINED -> mu = 0 } }
inline lock()    { atomic { mu == 0 -> mu = 1 } }
inline unlock()  { mu = 0 }

/* runRelease (ref.go): claim under mu, then release, then close(done) */
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
	if
	:: v == 0 -> v = 0; runRelease(); ok = 1
	:: else -> v = 0; ok = 0
	fi
}

inline getCentral() {
	atomic { UDRAINED -> C = C + 1; v = C; held++ };
	assert(v - 1 > 0);
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
					:: C == v -> C = v + 1; held++; ok = 1;
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
 * updateExclusive(d) by user u, pinned on the P of cell i: ok := stored.
 *   MOVL $1, busy; CMPL state; MOVQ count; ADDQ; range check;
 *   MOVQ n, count; MOVL $0, busy       (refuse: MOVL $0, busy)
 */
inline update(d, live) {
	atomic {                                /* procPin; busy = 1 */
		if
		:: wl[0] == 0 && (pc[0] == 0 || lastw[0] == u + 1) -> i = 0
		:: wl[1] == 0 && (pc[1] == 0 || lastw[1] == u + 1) -> i = 1
#ifndef NOFARCELL
		:: i = 2                            /* p > mask: straight to C */
#endif
		fi;
		if
		:: i < 2 -> wl[i] = 1; lastw[i] = u + 1; push(2*i + 1, 1)
		:: else -> skip
		fi
	};
	if
	:: i == 2 -> ok = 0
	:: else ->
		atomic {                            /* CMPL (CX), DX: load S */
			ka = (live -> killed : 0);      /* ghost: TryGetLive starts */
			ep = (live -> epoch : 0);
			st = S
		};
		if
		:: st == stPercpu ->
			atomic {                        /* load count (forwarded), add */
				loadCount();
				v = v + d;
				if
				:: inRange(v) -> ok = 1
				:: else -> ok = 0
				fi;
#ifndef MUTANT_BUSYLATE
				if                          /* MOVQ DI, (AX): count = n */
				:: ok -> push(2*i, v); held = held + d;
					assert(!(live && ka && ep == epoch))
				:: else -> skip
				fi
#else
				push(2*i + 1, 0)            /* busy = 0 first */
#endif
			};
#ifndef MUTANT_BUSYLATE
			atomic { push(2*i + 1, 0); wl[i] = 0 }   /* busy = 0; procUnpin */
#else
			atomic {
				if
				:: ok -> push(2*i, v); held = held + d;
					assert(!(live && ka && ep == epoch))
				:: else -> skip
				fi;
				wl[i] = 0
			}
#endif
		:: else ->
			atomic { push(2*i + 1, 0); wl[i] = 0; ok = 0 }   /* refuse */
		fi
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

/* membarrier's full barrier on user w's CPU: its buffer drains */
inline barrierOn(w) {
	d_step {
		do
		:: bn[w] > 0 -> flush1(w)
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
		/* percpu.Quiesce: membarrier; the IPI reaches each CPU at its own
		 * point, users run in between */
		barrierOn(0);
#if NUSER > 1
		barrierOn(1);
#endif
#if NUSER > 2
		barrierOn(2);
#endif
#endif
#ifndef MUTANT_NOWAIT
		busy[0] == 0;                               /* WaitIdle */
		busy[1] == 0;
#endif
		sum = cnt[0];                               /* Cell(i).Load() */
		sum = sum + cnt[1];
		atomic { C = C + sum - BIAS; v = C };       /* count.Add(sum-bias) */
		assert(v > 0)
	fi;
	sum = 0; v = 0
}

/* toPercpuLocked */
inline toPercpu() {
	do
	:: v = C;
		if
		:: v == 0 -> ok = 0; break
		:: else ->
			atomic { if :: C == v -> C = v + BIAS; ok = 1 :: else -> ok = 0 fi };
			if :: ok -> break :: else -> skip fi
		fi
	od;
	if
	:: ok ->
		cnt[0] = 0;                                 /* Swap(0) */
		cnt[1] = 0;
		S = S & ~stAtomic                           /* state.And */
	:: else -> skip
	fi;
	v = 0; ok = 0
}

proctype controller(bit mayReinit) {
	byte u = NUSER;       /* no store buffer: see UDRAINED */
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
			:: (st & stReleased) == 0 -> skip           /* ErrNotZero: no claim, no Reinit (ref.go) */
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
	atomic {
#ifdef START_DEAD
		C = 0; S = stInit | stAtomic | stDying | stReleased;
#elif defined(START_ATOMIC)
		held = 1 + NUSER; own = 1;
		C = 1 + NUSER; S = stInit | stAtomic; sticky = 1;
#else
		held = 1 + NUSER; own = 1;
		C = BIAS + 1 + NUSER; S = stPercpu;
#endif
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
	/* everyone done and every buffer drained: the count must be exact */
	ndone == NUSER + NCTL;
	k = 0;
	do
	:: k < NUSER -> bn[k] == 0; k++
	:: else -> break
	od;
	assert(pending == 0);
	assert(own + 0 <= 1);
	assert(busy[0] == 0 && busy[1] == 0);
	if
	:: S & stAtomic ->
		assert(C == held)
	:: else ->
		assert(C - BIAS + cnt[0] + cnt[1] == held);
		assert((S & stDying) == 0)
	fi;
	if
	:: held == 0 && DEADLIFE(life) -> assert(rel[0] == 0); assert(S & stReleased)
	:: held == 0 && !DEADLIFE(life) -> assert(rel[life] == 1); assert(S & stReleased)
	:: else -> assert(rel[life] == 0); assert((S & stReleased) == 0)
	fi
}
