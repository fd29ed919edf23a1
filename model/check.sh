#!/usr/bin/env bash
# check.sh -- check the Promela models of percpuref.Ref's switch protocols.
#
# Runs spin exhaustively on each configuration of percpuref.pml (the fetchadd
# protocol), exclusive.pml (the exclusive protocol under x86-TSO, with
# reused cells and stale updates in some configurations), barrier.pml
# (concurrent switches sharing membarriers) and the others listed at RUNS
# below (expecting "errors: 0", a full
# state-space search, no depth truncation) and on each mutant (expecting an
# assertion violation), prints one line per run, and exits non-zero if any
# expectation fails.
#
#   model/check.sh            the CI set (about 3 minutes on 2 cores,
#                             under 4 GB at peak)
#   model/check.sh --deep     also seven larger configurations (6-50M
#                             states each, up to about 2.7 GB per run;
#                             about 2.5 more minutes, plus up to 9 for
#                             barrier-three-users)
#
# Environment: JOBS (parallel runs, default 2), MEMLIM (MB per run, default
# 3500), CC (default gcc), KEEP=1 keeps the build directory and trails,
# ONLY=regex runs only the runs whose name matches.
set -u

case $0 in */*) cd "${0%/*}" || exit 2 ;; esac

if ! command -v spin >/dev/null 2>&1; then
	echo "check.sh: spin not found; install it (Debian/Ubuntu: apt-get install spin)" >&2
	exit 2
fi
CC=${CC:-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then
	echo "check.sh: C compiler '$CC' not found (spin's verifier is C)" >&2
	exit 2
fi
JOBS=${JOBS:-2}
MEMLIM=${MEMLIM:-3500}

# name | expect (ok, violation) | spin -D flags. Runs named excl-* check
# exclusive.pml (the exclusive protocol), done-* check done.pml (the lives
# and their Done channels), barrier-* barrier.pml (coalesced membarriers,
# and KillAll's one barrier for a batch),
# lease-* lease.pml (the one-shot Lease's tokens), misuse-* misuse.pml (use
# after release), lazy-* lazy.pml (a default Ref's compare-and-swap on C,
# its spread, and Kill), watch-* watch.pml (the slot arena's deferred
# watches), killasync-* killasync.pml (KillAsync's queue of pending
# folds, its folders and the stripes they hold), the others percpuref.pml (the fetchadd protocol). The list is in the order the runs start: the long ones
# first, so that the many short ones fill in at the end. The largest
# (threeusers, about 2.1 GB) is normally done before the next largest
# (excl-harvest-stale, 1.6 GB) starts; if not, the two need 3.7 GB.
RUNS=(
	"threeusers|ok|-DNUSER=3 -DUOPS=1 -DCOPS=1 -DHARVEST_ONLY"
	"excl-harvest|ok|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DHARVEST_ONLY"
	"lazy-leftover|ok|-DNU=2 -DLEFTOVER"
	"excl-stale|ok|-DNUSER=1 -DUOPS=1 -DCOPS=2 -DNOFARCELL -DLEFTOVER -DSTALE=2"
	"fastpath|ok|-DNUSER=2 -DUOPS=2 -DCOPS=1"
	"cycles|ok|-DNUSER=2 -DUOPS=1 -DCOPS=3"
	"excl-cycles|ok|-DNUSER=2 -DUOPS=1 -DCOPS=2 -DNOFARCELL"
	"excl-harvest-stale|ok|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DHARVEST_ONLY -DNOFARCELL -DSTALE"
	"excl-initdead-stale|ok|-DNUSER=1 -DUOPS=1 -DCOPS=3 -DSTART_DEAD -DNOFARCELL -DLEFTOVER -DSTALE"
	"initatomic|ok|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DSTART_ATOMIC"
	"twoctl|ok|-DNUSER=1 -DUOPS=2 -DNCTL=2 -DCOPS=2"
	"initdead|ok|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DSTART_DEAD"
	"reinit-after-zero|ok|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DREINIT_AFTER_ZERO"
	"reinit-anytime|ok|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DREINIT_ANYTIME"
	"mutant-nobias|violation|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DMUTANT_NOBIAS"
	"mutant-tightrange|violation|-DNUSER=2 -DUOPS=2 -DCOPS=1 -DMUTANT_TIGHTRANGE"
	"excl-mutant-tightrange|violation|-DNUSER=2 -DUOPS=2 -DCOPS=1 -DNOFARCELL -DMUTANT_TIGHTRANGE"
	"mutant-shardwise|violation|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DMUTANT_SHARDWISE"
	"mutant-nodeadcheck|violation|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DMUTANT_NODEADCHECK"
	"mutant-livenodying|violation|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DMUTANT_LIVENODYING"
	"mutant-undo|violation|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DMUTANT_UNDO"
	"mutant-reinit-countonly|violation|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DREINIT_ANYTIME -DMUTANT_REINIT_COUNTONLY"
	"mutant-reinit-countonly-stale-bit|violation|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DREINIT_ANYTIME -DRELEASE_NOASSERT -DMUTANT_REINIT_COUNTONLY"
	"excl-mutant-nobarrier|violation|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DHARVEST_ONLY -DMUTANT_NOBARRIER"
	"excl-mutant-nowait|violation|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DHARVEST_ONLY -DMUTANT_NOWAIT"
	"excl-mutant-marklate|violation|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DHARVEST_ONLY -DMUTANT_MARKLATE"
	"excl-mutant-norestore|violation|-DNUSER=2 -DUOPS=1 -DCOPS=1 -DHARVEST_ONLY -DMUTANT_NORESTORE"
	"excl-mutant-zero|violation|-DNUSER=1 -DUOPS=1 -DCOPS=2 -DNOFARCELL -DLEFTOVER -DSTALE -DMUTANT_ZERO"
	"excl-mutant-zero-oneref|violation|-DNUSER=1 -DUOPS=1 -DCOPS=2 -DNOFARCELL -DMUTANT_ZERO"
	"excl-mutant-noabsorb|violation|-DNUSER=1 -DUOPS=1 -DCOPS=2 -DNOFARCELL -DLEFTOVER -DSTALE -DMUTANT_NOABSORB"
	"excl-mutant-plainread|violation|-DNUSER=1 -DUOPS=1 -DCOPS=2 -DNOFARCELL -DLEFTOVER -DSTALE -DMUTANT_PLAINREAD"
	"excl-mutant-stalelive|violation|-DNUSER=1 -DUOPS=1 -DCOPS=2 -DNOFARCELL -DLEFTOVER -DSTALE -DMUTANT_STALELIVE"
	"done-lives|ok|-DL=3 -DNDONE=2 -DDONES=2"
	"done-fourlives|ok|-DL=4 -DNDONE=1 -DDONES=3"
	"done-mutant-nolife|violation|-DMUTANT_NOLIFE"
	"done-mutant-nobump|violation|-DMUTANT_NOBUMP"
	"done-mutant-closedwhilerunning|violation|-DMUTANT_CLOSEDWHILERUNNING"
	"done-mutant-donenoslow|violation|-DMUTANT_DONENOSLOW"
	"done-mutant-claimnoslow|violation|-DMUTANT_CLAIMNOSLOW"
	"done-mutant-claimnodone|violation|-DMUTANT_CLAIMNODONE"
	"barrier-two|ok|-DNK=2 -DUOPS=1"
	"barrier-two-uops2|ok|-DNK=2 -DUOPS=2"
	"barrier-three|ok|-DNK=3 -DNU=2 -DUOPS=1"
	"barrier-witness-coalesced|violation|-DNK=2 -DUOPS=1 -DWITNESS_COALESCED"
	"barrier-mutant-snapseq|violation|-DNK=2 -DUOPS=1 -DNOGHOST -DMUTANT_SNAPSEQ"
	"barrier-mutant-snapround|violation|-DNK=2 -DUOPS=1 -DNOGHOST -DMUTANT_SNAPROUND"
	"barrier-mutant-snapinprog|violation|-DNK=2 -DUOPS=1 -DNOGHOST -DMUTANT_SNAPINPROG"
	"barrier-mutant-incafter|violation|-DNK=2 -DUOPS=1 -DNOGHOST -DMUTANT_INCAFTER"
	"barrier-mutant-snapinprog-ghost|violation|-DNK=2 -DUOPS=1 -DMUTANT_SNAPINPROG"
	"barrier-mutant-incafter-ghost|violation|-DNK=2 -DUOPS=1 -DMUTANT_INCAFTER"
	"barrier-batch|ok|-DNK=2 -DUOPS=1 -DBATCH=2"
	"barrier-batch-and-one|ok|-DNK=3 -DUOPS=1 -DBATCH=2"
	"barrier-mutant-batchearly|violation|-DNK=2 -DUOPS=1 -DBATCH=2 -DNOGHOST -DMUTANT_BATCHEARLY"
	"barrier-mutant-batchearly-and-one|violation|-DNK=3 -DUOPS=1 -DBATCH=2 -DNOGHOST -DMUTANT_BATCHEARLY"
	"lease-remote2|ok|-DNREMOTE=2"
	"lease-unbiased|ok|-DNREMOTE=2 -DSTART_UNBIASED"
	"lease-mutant-norevoke|violation|-DNREMOTE=2 -DMUTANT_NOREVOKE"
	"lease-mutant-nobarrier|violation|-DNREMOTE=2 -DMUTANT_NOBARRIER"
	"lease-mutant-nowait|violation|-DNREMOTE=2 -DMUTANT_NOWAIT"
	"lease-mutant-nocasers|violation|-DNREMOTE=2 -DMUTANT_NOCASERS"
	"lease-mutant-busylate|violation|-DNREMOTE=2 -DMUTANT_BUSYLATE"
	"misuse-two|ok|-DM=2"
	"misuse-three|ok|-DM=3"
	"misuse-early|ok|-DM=3 -DEARLY=1"
	"misuse-early2|ok|-DM=3 -DEARLY=2 -DADMIT_WINDOW"
	"misuse-early2-window|violation|-DM=3 -DEARLY=2"
	"misuse-mutant-repoison|violation|-DM=3 -DEARLY=2 -DADMIT_WINDOW -DMUTANT_REPOISON"
	"misuse-mutant-nogate|violation|-DM=2 -DMUTANT_NOGATE"
	"lazy-two|ok|-DNU=2"
	"lazy-mutant-norange|violation|-DNU=2 -DMUTANT_NORANGE"
	"lazy-mutant-nosettle|violation|-DNU=2 -DLEFTOVER -DMUTANT_NOSETTLE"
	"lazy-mutant-nostate|violation|-DNU=2 -DLEFTOVER -DMUTANT_NOSTATE"
	"watch-two|ok|-DNOWN=2"
	"watch-three|ok|-DNOWN=3 -DNPASS=2"
	"watch-four|ok|-DNOWN=4 -DNPASS=2"
	"watch-witness-window|violation|-DNOWN=2 -DWITNESS_WINDOW"
	"watch-witness-stale|violation|-DNOWN=2 -DWITNESS_STALE"
	"watch-mutant-countunwatched|violation|-DNOWN=2 -DMUTANT_COUNTUNWATCHED"
	"watch-mutant-latemark|violation|-DNOWN=2 -DMUTANT_LATEMARK"
	"watch-mutant-latemark-free|violation|-DNOWN=2 -DMUTANT_LATEMARK -DNOSTRUCK_ASSERT"
	"watch-mutant-dropearly|violation|-DNOWN=2 -DMUTANT_DROPEARLY"
	"watch-mutant-dropearly-leak|violation|-DNOWN=2 -DMUTANT_DROPEARLY -DNOREACH_ASSERT"
	"killasync-onestripe|ok|-DCONF=1"
	"killasync-onestripe-holder|ok|-DCONF=1 -DHOLDER=0"
	"killasync-twostripes-holder|ok|-DCONF=2 -DHOLDER=1"
	"killasync-twoops-holder|ok|-DCONF=4 -DHOLDER=0"
	"killasync-three|ok|-DCONF=3"
	"killasync-donewait-each|ok|-DCONF=5 -DRELEASE_EACH"
	"killasync-witness-donewait|violation|-DCONF=5"
	"killasync-mutant-userfirst|violation|-DCONF=1 -DMUTANT_USERFIRST"
	"killasync-mutant-nostart|violation|-DCONF=2 -DMUTANT_NOSTART"
	"killasync-mutant-nostart-lost|violation|-DCONF=4 -DMUTANT_NOSTART"
	"killasync-mutant-nostartadd|violation|-DCONF=1 -DMUTANT_NOSTARTADD"
	"killasync-mutant-earlysnap|violation|-DCONF=2 -DMUTANT_EARLYSNAP"
	"killasync-mutant-nohold|violation|-DCONF=1 -DMUTANT_NOHOLD"
)
if [ "${1:-}" = "--deep" ]; then
	RUNS+=("deep|ok|-DNUSER=2 -DUOPS=2 -DCOPS=2"
		"deepdead|ok|-DNUSER=2 -DUOPS=2 -DCOPS=3 -DSTART_DEAD"
		"excl-deep|ok|-DNUSER=2 -DUOPS=1 -DCOPS=2"
		"excl-deepdead|ok|-DNUSER=2 -DUOPS=1 -DCOPS=3 -DSTART_DEAD -DNOFARCELL"
		"excl-deepstale|ok|-DNUSER=1 -DUOPS=2 -DCOPS=2 -DNOFARCELL -DLEFTOVER -DSTALE"
		"excl-initatomic-stale|ok|-DNUSER=1 -DUOPS=1 -DCOPS=2 -DSTART_ATOMIC -DNOFARCELL -DLEFTOVER -DSTALE"
		"barrier-three-users|ok|-DNK=3 -DUOPS=1")
elif [ $# -gt 0 ]; then
	echo "usage: $0 [--deep]" >&2
	exit 2
fi

if [ -n "${ONLY:-}" ]; then # ONLY=regex: just the runs whose name matches
	sel=()
	for r in "${RUNS[@]}"; do
		[[ "${r%%|*}" =~ $ONLY ]] && sel+=("$r")
	done
	RUNS=("${sel[@]}")
	[ ${#RUNS[@]} -gt 0 ] || { echo "check.sh: no run matches ONLY=$ONLY" >&2; exit 2; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/percpuref-model.XXXXXX") || exit 2
if [ "${KEEP:-0}" = 1 ]; then
	echo "build directory: $work"
else
	trap 'rm -rf "$work"' EXIT
fi

# run NAME EXPECT FLAGS: build and verify one configuration; writes
# $work/NAME/summary (one line) and $work/NAME/status (0 = as expected).
run() {
	local name=$1 expect=$2 flags=$3 d="$work/$1" model=percpuref.pml
	case $name in excl-*) model=exclusive.pml ;; done-*) model=done.pml ;; barrier-*) model=barrier.pml ;; lease-*) model=lease.pml ;; misuse-*) model=misuse.pml ;; lazy-*) model=lazy.pml ;; watch-*) model=watch.pml ;; killasync-*) model=killasync.pml ;; esac
	mkdir -p "$d"
	cp "$model" "$d/"
	(
		cd "$d" || exit 1
		start=$(date +%s)
		# shellcheck disable=SC2086
		if ! spin -a $flags "$model" >spin.out 2>&1; then
			echo "FAIL $name: spin -a failed: $(head -3 spin.out | tr '\n' ' ')" >summary
			echo 1 >status; exit 0
		fi
		# a mutant stops at its first violation, after a small search: compile it
		# unoptimized (compiling pan.c takes 1 s at -O0, 9-10 s at -O1/-O2), smaller table
		opt=-O2 hash=-w26
		[ "$expect" = ok ] || { opt=-O0; hash=-w22; }
		if ! "$CC" $opt -w -DSAFETY -DCOLLAPSE -DMEMLIM="$MEMLIM" -o pan pan.c >cc.out 2>&1; then
			echo "FAIL $name: compiling pan.c failed: $(head -3 cc.out | tr '\n' ' ')" >summary
			echo 1 >status; exit 0
		fi
		TIMEFORMAT=%U # user CPU seconds of the verification, less noisy than the wall time
		{ time ./pan -m300000 "$hash" >pan.out 2>&1; } 2>cpu.out
		secs=$(( $(date +%s) - start ))
		cpu=$(tail -1 cpu.out)
		errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | head -1)
		stored=$(awk '/states, stored/ {print $1}' pan.out | head -1)
		matched=$(awk '/states, matched/ {print $1}' pan.out | head -1)
		mem=$(awk '/total actual memory usage/ {print $1}' pan.out | head -1)
		depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out | head -1)
		stats="stored=${stored:-?} matched=${matched:-?} depth=${depth:-?} mem=${mem:-?}MB ${secs}s (pan cpu ${cpu:-?}s)"
		ok=1 why=""
		if grep -q "depth too small" pan.out; then ok=0; why="search depth too small (truncated)"; fi
		if grep -qi "out of memory" pan.out; then ok=0; why="out of memory"; fi
		# pan still prints "Full statespace search for:" when it stops at MEMLIM
		if grep -qE "reached -DMEMLIM bound|Search not completed" pan.out; then ok=0; why="search not completed (MEMLIM reached)"; fi
		if ! grep -q "Full statespace search" pan.out; then ok=0; why="${why:-not a full state-space search}"; fi
		if [ "$expect" = ok ]; then
			if [ "$ok" = 1 ] && [ "${errors:-x}" = 0 ]; then
				echo "ok   $name: errors: 0, exhaustive; states $stats" >summary
				echo 0 >status
			else
				echo "FAIL $name: expected errors: 0, got errors: ${errors:-?} ${why} $(grep -m1 -E 'violated|^pan.*invalid end state' pan.out); states $stats" >summary
				echo 1 >status
			fi
		else
			viol=$(grep -m1 "assertion violated" pan.out | sed 's/^pan:1: //')
			if [ -n "$viol" ] && [ "${errors:-0}" != 0 ]; then
				echo "ok   $name: violation as expected: $viol; states $stats" >summary
				echo 0 >status
			else
				echo "FAIL $name: expected an assertion violation, got errors: ${errors:-?} $(grep -m1 -E '^pan.*invalid end state' pan.out); states $stats" >summary
				echo 1 >status
			fi
		fi
	)
}

t0=$(date +%s)
running=0
for r in "${RUNS[@]}"; do
	IFS='|' read -r name expect flags <<<"$r"
	run "$name" "$expect" "$flags" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n 2>/dev/null || wait
		running=$((running - 1))
	fi
done
wait

fail=0
for r in "${RUNS[@]}"; do
	IFS='|' read -r name _ flags <<<"$r"
	if [ -f "$work/$name/summary" ]; then
		echo "$(cat "$work/$name/summary")  [$flags]"
		[ "$(cat "$work/$name/status")" = 0 ] || fail=1
	else
		echo "FAIL $name: no result  [$flags]"
		fail=1
	fi
done
echo "total ${#RUNS[@]} runs, $(( $(date +%s) - t0 ))s: $([ $fail = 0 ] && echo PASS || echo FAIL)"
exit $fail
