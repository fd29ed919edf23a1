//go:build !purego && !race

#include "textflag.h"
#include "funcdata.h"
#include "update_amd64.h"

// The fast paths of Get, Put, TryGet and TryGetLive (see fast_amd64.go). A
// Ref is read at fixed offsets: cells at 0 (Base 0, State 8, Last 12,
// Shift 14), count at 16. State values: stPercpu = stInit = 1, stAtomic =
// 2, stDying = 4, stExited = 8, stReleased = 16; usable(st) is
// st&(stInit|stExited|stReleased) == stInit. MaxCount = 1<<60, bias =
// 1<<61, lazyRange = 1<<59. All are NOSPLIT: from LOCATE to the last store
// of UPDATE the goroutine stays on its P (atomic_asm.go in package percpu
// says why). They have no frame, which keeps the common path free of stack
// stores and loads: the slow paths are tail jumps, to a Go function of the
// same signature, or to a trampoline that passes the count the add returned
// (in AX) on to Go.

// LAZY(n, spread) is the compare-and-swap of fetchAddOrLazy(d) (count.go) for a per-CPU Ref without cells, with
// AX = r.count, CX = the address expression n of AX (v+d): if C carries the
// bias and v+d stays within lazyRange of it, compare-and-swap C from v to
// v+d and fall through; if the swap fails (another goroutine got there
// first), jump to spread, which takes the cells and counts on C; if v+d is
// out of that range (a switch ran since the state was loaded, or the count
// is far out), jump to slow, whose central path checks the range.
#define LAZY(n, spread) \
	MOVQ 16(R11), AX            /* v = C */ \
	LEAQ n, CX                  /* v+d */ \
	MOVQ $0xe800000000000000, R8 /* lazyRange - bias */ \
	LEAQ (CX)(R8*1), R9 \
	MOVQ $0x1000000000000000, R8 /* 2*lazyRange */ \
	CMPQ R9, R8 \
	JHI  slow                   /* unsigned: v+d - bias outside ±lazyRange */ \
	LOCK \
	CMPXCHGQ CX, 16(R11) \
	JNE  spread

// func getFast(r *Ref)
TEXT ·getFast(SB), NOSPLIT, $0-8
	MOVQ r+0(FP), R11
	MOVL 8(R11), BX             // state
	CMPL BX, $1
	JNE  atomic                 // not per-CPU
	LOCATE(untried, slow, lazy)
	UPDATE(8(R11), 1(DI))       // r.cells.State, v+1
	RET
restore:
	RESTORE                     // refused
slow:
	JMP  ·getSlow(SB)
untried:
	JMP  ·getUntried(SB)
lazy:
	LAZY(1(AX), spread)         // v+1
	RET
spread:
	JMP  ·getSpread(SB)
atomic:
	ANDL $25, BX
	CMPL BX, $1
	JNE  slow                   // not usable: get reports it
	MOVQ $1, AX
	LOCK
	XADDQ AX, 16(R11)
	INCQ AX                     // v = r.count.Add(1)
	CMPQ AX, $1
	JLE  added                  // v <= 1: the count was zero or below
	MOVQ $0x1000000000000000, R8
	CMPQ AX, R8
	JGT  added                  // v > MaxCount
	RET
added:
	JMP  ·getAddedAX(SB)

// func getAddedAX(r *Ref), entered by a jump from getFast with AX = v.
TEXT ·getAddedAX(SB), NOSPLIT, $16-8
	NO_LOCAL_POINTERS
	MOVQ r+0(FP), R11
	MOVQ R11, 0(SP)
	MOVQ AX, 8(SP)
	CALL ·getAdded(SB)
	RET

// func putFast(r *Ref) bool
TEXT ·putFast(SB), NOSPLIT, $0-9
	MOVQ r+0(FP), R11
	MOVL 8(R11), BX             // state
	CMPL BX, $1
	JNE  atomic                 // not per-CPU
	LOCATE(untried, slow, lazy)
	UPDATE(8(R11), -1(DI))      // r.cells.State, v-1
	MOVB $0, ret+8(FP)          // per-CPU: never the last reference
	RET
restore:
	RESTORE                     // refused
slow:
	JMP  ·putSlow(SB)
untried:
	JMP  ·putUntried(SB)
lazy:
	LAZY(-1(AX), spread)        // v-1
	MOVB $0, ret+8(FP)
	RET
spread:
	JMP  ·putSpread(SB)
atomic:
	ANDL $25, BX
	CMPL BX, $1
	JNE  slow                   // not usable: put reports it
	MOVQ $-1, AX
	LOCK
	XADDQ AX, 16(R11)
	DECQ AX                     // v = r.count.Add(-1)
	LEAQ -1(AX), R8
	MOVQ $0x1000000000000000, R9
	CMPQ R8, R9
	JCC  added                  // unsigned v-1 >= MaxCount: !atomicValid(v)
	MOVB $0, ret+8(FP)
	RET
added:
	JMP  ·putAddedAX(SB)

// func putAddedAX(r *Ref) bool, entered by a jump from putFast with AX = v.
TEXT ·putAddedAX(SB), NOSPLIT, $24-9
	NO_LOCAL_POINTERS
	MOVQ r+0(FP), R11
	MOVQ R11, 0(SP)
	MOVQ AX, 8(SP)
	CALL ·putAdded(SB)
	MOVB 16(SP), AX
	MOVB AX, ret+8(FP)
	RET

// TRYGET(mask, slowfn, untriedfn, spreadfn) is the body of tryGetFast
// and tryGetLiveFast: in per-CPU mode they count as Get does and succeed;
// in atomic mode, if the state's bits under mask are stInit|stAtomic (3),
// they are tryGetCentral's increment unless zero, a compare-and-swap loop
// on a count in [1, MaxCount); everything else is the Go function slowfn
// (tryGet: a count at zero, poisoned, saturated or carrying the bias, a
// dying Ref for TryGetLive, misuse), a runtime layout that the assembly
// does not know is untriedfn, and a Lazy Ref's failed swap is spreadfn.
// mask is stInit|stAtomic|stExited|stReleased (27) for TryGet, and with
// stDying (31) for TryGetLive, which fails on a dying Ref.
#define TRYGET(mask, slowfn, untriedfn, spreadfn) \
	MOVQ r+0(FP), R11 \
	MOVL 8(R11), BX             /* state */ \
	CMPL BX, $1 \
	JNE  atomic                 /* not per-CPU */ \
	LOCATE(untried, slow, lazy) \
	UPDATE(8(R11), 1(DI))       /* r.cells.State, v+1 */ \
	MOVB $1, ret+8(FP) \
	RET \
restore: \
	RESTORE                     /* refused */ \
slow: \
	JMP  slowfn \
untried: \
	JMP  untriedfn \
lazy: \
	LAZY(1(AX), spread)         /* v+1 */ \
	MOVB $1, ret+8(FP) \
	RET \
spread: \
	JMP  spreadfn \
atomic: \
	ANDL $mask, BX \
	CMPL BX, $3 \
	JNE  slow                   /* not usable, or dying for TryGetLive */ \
	MOVQ 16(R11), AX            /* v = r.count.Load() */ \
	MOVQ $0x0fffffffffffffff, R9 /* MaxCount - 1 */ \
retry: \
	LEAQ -1(AX), R8 \
	CMPQ R8, R9 \
	JCC  slow                   /* unsigned v-1 >= MaxCount-1: v+1 not in [2, MaxCount] */ \
	LEAQ 1(AX), CX \
	LOCK \
	CMPXCHGQ CX, 16(R11)        /* on failure AX = the count now */ \
	JNE  retry \
	MOVB $1, ret+8(FP) \
	RET

// func tryGetFast(r *Ref) bool
TEXT ·tryGetFast(SB), NOSPLIT, $0-9
	TRYGET(27, ·tryGetSlow(SB), ·tryGetUntried(SB), ·tryGetSpread(SB))

// func tryGetLiveFast(r *Ref) bool
TEXT ·tryGetLiveFast(SB), NOSPLIT, $0-9
	TRYGET(31, ·tryGetLiveSlow(SB), ·tryGetLiveUntried(SB), ·tryGetLiveSpread(SB))
