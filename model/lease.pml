/*
 * lease.pml -- a Promela model of the token protocol that makes a
 * percpuref Lease one-shot (percpuref/lease.go, lease_amd64.s), under
 * x86-TSO.
 *
 * One token, word W, held at generation G by a Lease of which several
 * copies exist. The home P (process home) runs, in any order: the Release
 * of one copy (the assembly's home Release H1-H5, or the compare-and-swap
 * path when the mode is not biased), rebias attempts, and, once the token
 * is free again, a take of it for a new Lease (G+2) and that Lease's
 * Release. Other Ps (processes remote) each release a copy of the G Lease
 * by the compare-and-swap path, revoking a biased home first. The home's
 * plain stores (W, busy) go through a FIFO store buffer that a flusher
 * drains at any time; its loads forward from it; its locked instructions
 * (the Go path's atomics) wait until it is empty. membarrier drains the
 * home's buffer at whatever point the home has reached.
 *
 * Checked: exactly one Release of G wins; the new Lease's Release always
 * wins (a stale copy never takes it); no end state is blocked (the
 * revoker's wait for busy ends).
 *
 * Macros: NREMOTE (remote copies, default 1), START_UNBIASED (the home starts
 * unbiased), NOTAKE (no take of the token by the home).
 * Mutants, each of which must fail: MUTANT_NOREVOKE (the compare-and-swap
 * path does not revoke a biased home), MUTANT_NOBARRIER (revocation without
 * membarrier), MUTANT_NOWAIT (revocation does not wait for busy),
 * MUTANT_NOCASERS (rebias ignores casers), MUTANT_BUSYLATE (the home
 * Release stores busy after its mode load).
 *
 * Run (errors: 0 expected, about 3M states at NREMOTE=3; each mutant must
 * report an assertion violation):
 *
 *	spin -a -DNREMOTE=2 lease.pml && gcc -O2 -w -o pan pan.c && ./pan -m100000
 *	spin -a -DNREMOTE=2 -DMUTANT_NOWAIT lease.pml && gcc -O2 -w -o pan pan.c && ./pan -m100000
 */

#ifndef NREMOTE
#define NREMOTE 1
#endif

#define G       1
#define UNBIASED  0
#define BIASED  1
#define REVOKE  2

#define AW 0            /* address of W    */
#define AB 1            /* address of busy */

byte mem[2];            /* W, busy */
byte M;                 /* mode */
byte K;                 /* casers */

#define CAP 8
byte ba[CAP]; byte bv[CAP]; byte bn;   /* the home's store buffer */

byte wins;              /* Releases of G that won */
byte tries;             /* Releases of G made */
bit  took;              /* the home took the token for G+2 */
byte wins2;             /* Releases of G+2 that won */
byte ndone;

inline flush1() {
	mem[ba[0]] = bv[0];
	k = 0;
	do
	:: k + 1 < bn -> ba[k] = ba[k+1]; bv[k] = bv[k+1]; k++
	:: else -> break
	od;
	ba[k] = 0; bv[k] = 0; bn--; k = 0
}

proctype flusher() {
	byte k;
end:	do
	:: d_step { bn > 0 -> flush1() }
	od
}

/* the home's plain load of address a into v: its newest buffered store, else memory */
inline hload(a) {
	atomic {
		v = mem[a];
		k = 0;
		do
		:: k < bn -> if :: ba[k] == a -> v = bv[k] :: else -> skip fi; k++
		:: else -> break
		od;
		k = 0
	}
}

inline hstore(a, x) {
	atomic { assert(bn < CAP); ba[bn] = a; bv[bn] = x; bn++ }
}

/* before a locked instruction of process `home` the buffer is empty */
#define DRAINED (!ishome || bn == 0)

inline load(a) {
	if
	:: ishome -> hload(a)
	:: else -> v = mem[a]
	fi
}

/* membarrier: a full barrier on the home's CPU, at whatever point it is */
inline barrier() {
	do
	:: d_step { bn > 0 -> flush1() }
	:: else -> break
	od
}

inline revoke() {
#ifndef MUTANT_NOBARRIER
	barrier();
#endif
#ifndef MUTANT_NOWAIT
	b = mem[AB];
	if
	:: b % 2 == 1 -> (mem[AB] != b)
	:: else -> skip
	fi;
#endif
	M = UNBIASED
}

/* leaseToken.give: R0-R4; won = 1 if this call won */
inline give(g) {
	load(AW);
	if
	:: v != g -> won = 0
	:: else ->
		atomic { DRAINED -> K++ };
		do
		:: atomic { M == UNBIASED -> break }
		:: atomic { DRAINED && M == BIASED -> 
#ifdef MUTANT_NOREVOKE
			break
#else
			M = REVOKE
#endif
		   };
		   revoke(); break
		:: atomic { M == REVOKE -> (M != REVOKE) }
		od;
		atomic {
			DRAINED ->
			if
			:: mem[AW] == g -> mem[AW] = g + 1; won = 1
			:: else -> won = 0
			fi
		};
		atomic { DRAINED -> K-- }
	fi
}

/* leaseGive then give, on the home P */
inline homeRelease(g) {
	hload(AB); b = v;
#ifdef MUTANT_BUSYLATE
	m = M;
	hstore(AB, b + 1);
#else
	hstore(AB, b + 1);        /* H1 */
	m = M;                    /* H2 */
#endif
	if
	:: m != BIASED -> hstore(AB, b + 2); give(g)
	:: else ->
		hload(AW);            /* H3 */
		if
		:: v != g -> hstore(AB, b + 2); won = 0
		:: else ->
			hstore(AW, g + 1);    /* H4 */
			hstore(AB, b + 2);    /* H5 */
			won = 1
		fi
	fi
}

/* rebias, pinned on the home P */
inline rebias() {
	if
	:: atomic { DRAINED && M == UNBIASED -> M = BIASED };   /* an atomic store: drains */
		atomic {
			DRAINED ->
#ifndef MUTANT_NOCASERS
			if
			:: K != 0 -> if :: M == BIASED -> M = UNBIASED :: else -> skip fi
			:: else -> skip
			fi
#else
			skip
#endif
		}
	:: else -> skip
	fi
}

proctype home() {
	bit ishome = 1;
	byte v, b, k, m;
	bit won;
	bit released = 0;
	byte g2;
	do
	:: !released ->
		homeRelease(G);
		atomic { tries++; if :: won -> wins++ :: else -> skip fi; assert(wins <= 1) };
		released = 1
	:: rebias()
#ifndef NOTAKE
	:: !took ->
		/* take: the cursor token, if free (a plain load and store) */
		hload(AW);
		if
		:: v % 2 == 0 -> hstore(AW, v + 1); g2 = v + 1; took = 1;
			/* and the new Lease's Release, at home */
			homeRelease(g2);
			assert(g2 == G + 2);
			if :: won -> wins2++ :: else -> skip fi;
			assert(won)        /* a stale copy never takes the new Lease's Release */
		:: else -> skip
		fi
#endif
	:: released -> break
	od;
	atomic { ndone++ }
}

proctype remote() {
	bit ishome = 0;
	byte v, b, k;
	bit won;
	give(G);
	atomic { tries++; if :: won -> wins++ :: else -> skip fi; assert(wins <= 1) };
	atomic { ndone++ }
}

init {
	mem[AW] = G;
#ifdef START_UNBIASED
	M = UNBIASED;
#else
	M = BIASED;
#endif
	atomic {
		run flusher();
		run home();
		byte i = 0;
		do
		:: i < NREMOTE -> run remote(); i++
		:: else -> break
		od
	}
	(ndone == 1 + NREMOTE);
	assert(tries == 1 + NREMOTE);
	assert(wins == 1)
}
