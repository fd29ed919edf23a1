/*
 * barrier.pml -- a Promela model of concurrent switches to atomic mode
 * sharing membarriers: the sequence counter and the leader's mutex of
 * quiesce.go (coalescedBarrier.snap, waitFor), under the exclusive protocol's
 * update (exclusive.pml, toAtomicLocked in percpuref/switch.go); and of
 * KillAll's one barrier for a batch of Refs (percpuref/killall.go).
 *
 * NK killers, each with a Ref of its own (a state word S[k] and one cell
 * w[k]) and one user goroutine u == k updating that cell. The user makes
 * UOPS updates of +1, each the busy-mark update of exclusive.pml:
 *
 *	v = cell; cell = v + BUSY;  load S;  cell = v + 1 (counted) or v (refused)
 *
 * with plain stores through an x86-TSO store buffer (a flusher drains it
 * to memory at any time; the user's own loads forward from it). A refused
 * update is redone on the central count in Go; here it is only counted as
 * refused. Killer k does what toAtomicLocked does in the exclusive
 * protocol, with quiesce.go's sharing of the barrier:
 *
 *	S[k] = stAtomic                       (locked: the state Or)
 *	snap = (seq + 3) & ~1                 (seq.Load)
 *	lock mu
 *	if seq < snap {                       (seq.Load)
 *		seq++                             (seq.Add: odd)
 *		membarrier: each user's buffer drains, at its own point
 *		seq++                             (seq.Add: even)
 *	}
 *	unlock mu
 *	fold[k] = Stable(w[k])
 *
 * Every step on seq, mu and S is a sequentially consistent atomic (a
 * locked instruction; the killers make no plain stores, so they have no
 * store buffer). The membarrier is modelled as exclusive.pml models it:
 * the system call's full barrier reaches each user's CPU at its own point
 * while the leader waits (barrierOn: that user's buffer drains in one
 * step), the goroutines running in between. A barrier begins at the
 * system call's entry, one step before the first drain.
 *
 * Assertions:
 *   (a) no update lost or counted twice: once everyone is done and every
 *       buffer drained, each killer's fold equals the updates on its Ref
 *       that stored v+1 (a counted update that the fold missed is lost; the
 *       fold cannot count one twice, but a stray BUSY would show here too);
 *       and the cell in memory still holds the fold (nothing counted after
 *       it).
 *   (b) the ghost property the code relies on: when killer k folds, a
 *       barrier that began after its state store (at the system call's
 *       entry) has ended. Off with NOGHOST, so that the mutants must be
 *       caught by (a), a real lost update, and not only by the ghost.
 *   (c) Stable sees a busy cell only while the user's update of it is in
 *       flight (its mark or final store not yet in memory), as exclusive.pml.
 *
 * Configuration macros (spin -D...):
 *   NK      killers, each with a Ref of its own (2 or 3; default 2)
 *   NU      Refs 0..NU-1 have a user (default NK); the others are killed
 *           with nothing updating them, their killers only taking part in
 *           the sharing
 *   UOPS    updates per user (default 1)
 *   NOGHOST leave out (b)
 *   BATCH   Refs 0..BATCH-1 are killed by one KillAll (batchkiller): every
 *           state store, then one quiesce, then every fold; the Refs from
 *           BATCH on have a killer each, sharing barriers with it
 *   WITNESS_COALESCED assert that every killer ran a barrier of its own: a
 *           violation is a run in which concurrent kills shared a barrier
 *           (a killer whose snapshot another leader's barrier satisfied
 *           issued none), showing that the model reaches sharing at all
 * Mutants (each must produce an assertion violation):
 *   MUTANT_SNAPSEQ    snap = seq: any barrier, or none, will do
 *   MUTANT_SNAPROUND  snap = (seq + 1) & ~1: the barrier in progress if seq
 *                     is odd, none at all if it is even
 *   MUTANT_SNAPINPROG snap = (seq + 2) & ~1: the next barrier if seq is
 *                     even, but the one in progress if it is odd, which may
 *                     have begun before the state store
 *   MUTANT_INCAFTER   the leader moves seq only after the system call, by
 *                     two: a barrier in progress looks like none
 *   MUTANT_BATCHEARLY (with BATCH) KillAll quiesces after its first state
 *                     store instead of after its last: the later Refs'
 *                     folds then rest on a barrier that began before their
 *                     store
 */

#ifndef NK
#define NK 2
#endif
#ifndef NU
#define NU NK
#endif
#ifndef UOPS
#define UOPS 1
#endif
#define CAP (2*UOPS)  /* a user's stores: two per update, never more */

#define LIVE   1      /* cells.Live: the state of a per-CPU Ref */
#define ATOMIC 2      /* stAtomic */
#define BUSY   16     /* busyMark: a cell above UOPS reads busy */

byte S[NK];           /* the state words, one per Ref */
byte w[NK];           /* the cells in memory, one per Ref (its user's P) */
byte seq;             /* coalescedBarrier.seq */
bit  mu;              /* coalescedBarrier.mu */

/* store buffers: user u's entries at [u*CAP .. u*CAP+bn[u]), oldest
 * first; each user stores to its own cell only, so an entry is a value */
byte bv[NK*CAP];
byte bn[NK];
bit  inflight[NK];    /* user u is between its mark and its final store */

/* ghost */
byte counted[NK];     /* updates of Ref k that stored v+1 */
byte fold[NK];        /* what killer k's fold read */
bit  stored[NK];      /* killer k has made its state store */
bit  after[NK];       /* ... before the barrier in progress began */
bit  served[NK];      /* a barrier that began after k's store has ended */
byte ndone;

/* move the oldest store of user u's buffer to memory */
inline flush1(u) {
	w[u] = bv[u*CAP];
	j = 0;
	do
	:: j + 1 < bn[u] -> bv[u*CAP+j] = bv[u*CAP+j+1]; j++
	:: else -> break
	od;
	bv[u*CAP+j] = 0;
	bn[u]--;
	j = 0
}

proctype flusher(byte u) {
	byte j;
end:
	do
	:: d_step { bn[u] > 0 -> flush1(u) }
	od
}

inline push(x) {
	assert(bn[u] < CAP);
	bv[u*CAP + bn[u]] = x; bn[u]++
}

/* v = the cell as user u loads it: its newest buffered store, else memory */
inline loadCell() {
	if
	:: bn[u] > 0 -> v = bv[u*CAP + bn[u] - 1]
	:: else -> v = w[u]
	fi
}

proctype user(byte u) {
	byte n, v, st;
	do
	:: n < UOPS ->
		n++;
		atomic { loadCell(); push(v + BUSY); inflight[u] = 1 };  /* v = c; c = v + busyMark */
		st = S[u];                                               /* load S */
		atomic {
			if
			:: st == LIVE -> push(v + 1); counted[u]++           /* c = v + d */
			:: else -> push(v)                                   /* c = v: refused */
			fi;
			inflight[u] = 0
		};
		v = 0; st = 0
	:: else -> break
	od;
	ndone++
}

/* the membarrier's full barrier on user g's CPU: its buffer drains */
inline barrierOn(g) {
	d_step {
		do
		:: bn[g] > 0 -> flush1(g)
		:: else -> break
		od
	}
}

/* the system call: entry (smp_mb; the barrier begins), then the barrier on
 * each user's CPU, each at its own point (its exit is ended(), below) */
inline membarrier() {
	atomic {
		j = 0;
		do
		:: j < NK -> after[j] = stored[j]; j++
		:: else -> break
		od;
		j = 0
	};
	barrierOn(0);
	barrierOn(1);
#if NK > 2
	barrierOn(2);
#endif
}

/* ghost: the system call has returned (smp_mb on exit): its barrier has
 * ended; merged with the leader's next step, the increment of seq */
inline ended() {
	j = 0;
	do
	:: j < NK -> served[j] = served[j] | after[j]; after[j] = 0; j++
	:: else -> break
	od;
	j = 0
}

/* quiesce: theBarrier.waitFor(theBarrier.snap()), for a killer whose
 * locals are snap, mine and j */
inline quiesce() {
#if defined(MUTANT_SNAPSEQ)
	snap = seq;
#elif defined(MUTANT_SNAPROUND)
	snap = (seq + 1) & ~1;
#elif defined(MUTANT_SNAPINPROG)
	snap = (seq + 2) & ~1;
#else
	snap = (seq + 3) & ~1;                          /* rcu_seq_snap */
#endif
	/* mu.Lock, then seq.Load: one step, since only mu's holder moves seq */
	atomic {
		mu == 0 -> mu = 1;
		if
		:: seq >= snap -> snap = 0                  /* rcu_seq_done: served */
		:: else -> mine = 1
		fi
	};
	if
	:: mine ->
#ifndef MUTANT_INCAFTER
		seq++;                                      /* odd: a barrier runs */
		membarrier();
		atomic { seq++; ended() };                  /* even: it has ended */
#else
		membarrier();
		atomic { seq = seq + 2; ended() };
#endif
		assert(seq >= snap); snap = 0
	:: else -> skip
	fi;
	mu = 0                                          /* mu.Unlock */
}

/* after the barrier: check the ghost, then fold = cells.Stable(w[k]),
 * loading until not busy (and clear the killer's mine) */
inline harvest(k) {
#ifndef NOGHOST
	assert(served[k]);                              /* (b) */
#endif
	do
	:: atomic { w[k] <= UOPS -> v = w[k]; break }
	:: atomic { w[k] > UOPS -> assert(inflight[k] || bn[k] > 0) }   /* (c) */
	od;
	atomic { fold[k] = v; v = 0; mine = 0; ndone++ }
}

proctype killer(byte k) {
	byte snap, v, j;
	bit mine;

	atomic { S[k] = ATOMIC; stored[k] = 1 };      /* state.Or(stAtomic) */
	quiesce();
#ifdef WITNESS_COALESCED
	assert(mine);
#endif
	harvest(k)
}

#ifdef BATCH
/* KillAll (percpuref/killall.go) of Refs 0..BATCH-1: every state store,
 * then one quiesce, then every fold, all under the Refs' locks (held from
 * the first store to the last fold, so no other switch of these Refs
 * interleaves; here no other killer kills them). */
proctype batchkiller() {
	byte snap, v, j, k;
	bit mine;

	do
	:: k < BATCH ->
		atomic { S[k] = ATOMIC; stored[k] = 1 };  /* markAtomicLocked */
#ifdef MUTANT_BATCHEARLY
		if
		:: k == 0 -> quiesce()                    /* the barrier after the first store only */
		:: else -> skip
		fi;
#endif
		k++
	:: else -> break
	od;
#ifndef MUTANT_BATCHEARLY
	quiesce();
#endif
	k = 0;
	do
	:: k < BATCH -> harvest(k); k++
	:: else -> break
	od
}
#endif

init {
	byte k;
	atomic {
		k = 0;
		do
		:: k < NK -> S[k] = LIVE; k++
		:: else -> break
		od;
		k = 0;
		do
		:: k < NK ->
			if
			:: k < NU -> run user(k); run flusher(k)
			:: else -> ndone++                         /* no user for Ref k */
			fi;
#ifdef BATCH
			if
			:: k >= BATCH -> run killer(k)
			:: else -> skip                            /* batchkiller's */
			fi;
#else
			run killer(k);
#endif
			k++
		:: else -> break
		od;
#ifdef BATCH
		run batchkiller();
#endif
		k = 0
	};
	ndone == 2*NK;
	do
	:: k < NK -> bn[k] == 0; k++
	:: else -> break
	od;
	k = 0;
	do
	:: k < NK ->
		assert(fold[k] == counted[k]);               /* (a) */
		assert(w[k] == fold[k]);
		k++
	:: else -> break
	od
}
