/*
 * done.pml -- the lives of a percpuref.Ref and their Done channels, as
 * argued at runRelease in percpuref/release.go.
 *
 * What must hold: each life's Done waiters wake exactly when that life's
 * release returns, never earlier and never never, whenever Done is called
 * (before the release, while it runs, after it), while lives overlap: a
 * Reinit may start the next life while the last one's release runs (from
 * inside it, or from another goroutine), and that next life may be released
 * while the old release still runs.
 *
 * The count is abstracted away: a life is released once (the claim, by the
 * Put that takes the count to zero), and Reinit runs only on a claimed life
 * (it waits for the claim, or reports ErrNotZero and changes nothing). Every
 * step between lock() and unlock() runs under the Ref's lock, as in Go.
 *
 * Processes: the claimer claims lives 0..L-1 in turn, each as soon as it is
 * current, and starts its releaser; the reiniter starts lives 1..L-1, each
 * once the last is claimed (whether or not its release has returned, so
 * also from "inside" it); NDONE doners call Done DONES times each. A
 * releaser marks its life returned (release has returned), then does the
 * return step. Checked: a channel is closed only by its own life's return,
 * after that life's release returned, and once; Done returns the shared
 * closed channel only for a life whose release returned; at the end, every
 * channel Done made is closed.
 *
 * The return step has a fast path without the lock (returned in
 * release.go): one atomic step that clears running if running is set and
 * slow is clear. running and slow are bits of the state word: the steps
 * under the lock that read or write them do so atomically too, since the
 * fast path may run between any two of them. The claim sets slow if the life
 * has a channel or the Ref has orphaned lives; Done, finding running set,
 * sets slow before it makes a channel, and reads in the same step whether
 * running was still set.
 *
 * Mutants (each must fail): MUTANT_NOLIFE, the return step trusts the
 * running bit and ignores the life number; MUTANT_NOBUMP, a life that ends
 * while its release runs does not bump the number; MUTANT_CLOSEDWHILERUNNING,
 * Done returns the closed channel once the life is claimed;
 * MUTANT_DONENOSLOW, Done makes a channel for a running release without
 * setting slow; MUTANT_CLAIMNOSLOW, the claim does not set slow for a Ref
 * with orphaned lives, so an orphaned release's fast path can clear a later
 * life's running bit; MUTANT_CLAIMNODONE, the claim does not set slow for a
 * life whose Done made a channel before it.
 */

#ifndef L
#define L 3
#endif
#ifndef NDONE
#define NDONE 2
#endif
#ifndef DONES
#define DONES 2
#endif
#define NCH (NDONE * DONES)

bit mu;              /* the Ref's lock */
bool released;       /* stReleased: this life's release was claimed */
bool running;        /* stRunning: ...and has not returned */
bool slow;           /* stSlowReturn: the return takes the lock */
byte curDone;        /* x.done: channel id + 1, 0 if none */
byte lifeNum;        /* x.orph.life: lives orphaned so far */
byte orphanChan[L];  /* x.orph.list: by life number, channel id + 1, 0 if none */
byte life;           /* the current life (the model's own bookkeeping) */
bool returned[L];    /* life k's release has returned */
bool closed[NCH];
byte chanLife[NCH];  /* the life whose Done made the channel */
byte nch;            /* channels made */

inline lock() { atomic { mu == 0 -> mu = 1 } }
inline unlock() { mu = 0 }

/* endLifeLocked: the And that clears stRunning returns whether it was set */
inline endLife() {
	bool wasRunning;
	atomic { wasRunning = running; running = false };
	if
	:: wasRunning ->
		orphanChan[lifeNum] = curDone;
#ifndef MUTANT_NOBUMP
		lifeNum++;
#endif
		skip
	:: else
	fi;
	curDone = 0
}

/*
 * At the end, with every other process gone, every channel is closed. It is
 * the first process, so that the others can terminate before it (spin
 * removes a process only after every later one).
 */
active proctype end() {
	byte c = 0;
	_nr_pr == 1;
	do
	:: c < nch -> assert(closed[c]); c++
	:: else -> break
	od
}

proctype releaser(byte k; byte n) {
	byte d = 0;
	bool fast = false;
	returned[k] = true; /* release has returned */
	/* the fast path: one compare-and-swap on the state word */
	atomic {
		if
		:: running && !slow -> running = false; fast = true
		:: else
		fi
	}
	if
	:: fast -> goto out
	:: else
	fi;
	lock();
#ifdef MUTANT_NOLIFE
	if
	:: running -> running = false; d = curDone
	:: else -> d = orphanChan[n]; orphanChan[n] = 0
	fi;
#else
	if
	:: lifeNum == n -> running = false; d = curDone
	:: else -> d = orphanChan[n]; orphanChan[n] = 0
	fi;
#endif
	unlock();
	if
	:: d != 0 ->
		assert(chanLife[d - 1] == k); /* its own life's channel */
		assert(!closed[d - 1]);
		closed[d - 1] = true
	:: else
	fi;
out:
	skip
}

active proctype claimer() {
	byte k = 0;
	do
	:: k < L ->
		atomic { mu == 0 && !released && life == k -> mu = 1 }
		/* one Or (or compare-and-swap) on the state word sets the three */
		atomic {
			released = true;
			running = true;
#if defined(MUTANT_CLAIMNOSLOW)
			slow = curDone != 0
#elif defined(MUTANT_CLAIMNODONE)
			slow = lifeNum != 0
#else
			slow = curDone != 0 || lifeNum != 0
#endif
		}
		run releaser(k, lifeNum);
		unlock();
		k++
	:: else -> break
	od
}

active proctype reiniter() {
	byte i = 1;
	do
	:: i < L ->
		atomic { mu == 0 && released -> mu = 1 }
		endLife();
		released = false;
		slow = false;
		life++;
		unlock();
		i++
	:: else -> break
	od
}

active [NDONE] proctype doner() {
	byte i = 0;
	bool isRunning;
	do
	:: i < DONES ->
		lock();
		isRunning = running;
		if
		:: curDone == 0 && isRunning ->
#ifdef MUTANT_DONENOSLOW
			isRunning = running
#else
			atomic { isRunning = running; slow = true }
#endif
		:: else
		fi;
		if
		:: curDone != 0 ->
			assert(chanLife[curDone - 1] == life)
#ifdef MUTANT_CLOSEDWHILERUNNING
		:: curDone == 0 && released ->
#else
		:: curDone == 0 && released && !isRunning ->
#endif
			assert(returned[life]) /* the shared closed channel */
		:: else ->
			chanLife[nch] = life;
			nch++;
			curDone = nch
		fi;
		unlock();
		i++
	:: else -> break
	od
}
