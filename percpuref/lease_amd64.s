//go:build !purego && !race && !percpurefdebug

#include "textflag.h"
#include "update_amd64.h"

// The fast paths of Acquire and Release (lease_amd64.go; the token protocol
// is in lease.go, the Ref's update in update_amd64.h and protocol.go). A
// Ref is read as fast_amd64.s reads it: cells at 0 (Base 0, State 8, Last
// 12, Shift 14); stPercpu is 1. A leaseToken: w 0, home 8, 16 bytes. A
// leaseHome: busy 0, mode 8, next 16, toks 24, mask 32, 256 bytes; P p's
// is leaseHomes + p<<8. leaseBiased is 1, leaseMaxP 1024. Both functions
// are NOSPLIT and frameless: from the P id to the last store the goroutine
// stays on its P (atomic_asm.go in package percpu says why), which is what
// makes the plain stores to the cell, the token and busy safe. Whatever
// they leave undone they leave to a Go function of the same signature, by
// a jump with the arguments in place.

// PID(refuse) leaves the calling goroutine's P id in R12, or jumps to
// refuse if the runtime layout is unknown (mOffP is 0). It clobbers DX.
#define PID(refuse) \
	MOVQ    ·mOffP(SB), DX \
	TESTQ   DX, DX \
	JZ      refuse \
	MOVQ    TLS, R12 \
	MOVQ    0(R12)(TLS*1), R12  /* g */ \
	MOVQ    48(R12), R12        /* g.m */ \
	MOVQ    (R12)(DX*1), R12    /* m.p */ \
	MOVLQSX (R12), R12          /* p.id */

// CELL(refuse) leaves in AX the cell of P R12 in the Ref at R11, or jumps
// to refuse if the Ref has no cells or none for this P, as LOCATE does. It
// clobbers CX, R9 and R10.
#define CELL(refuse) \
	MOVQ    0(R11), AX          /* Base */ \
	TESTQ   AX, AX \
	JZ      refuse \
	MOVWQZX 12(R11), R9         /* Last */ \
	CMPQ    R12, R9 \
	JHI     refuse \
	MOVBQZX 14(R11), CX         /* Shift */ \
	MOVQ    R12, R10 \
	SHLQ    CX, R10 \
	ADDQ    R10, AX

// func leaseAcquire(r *Ref) (t *leaseToken, gen uint64)
TEXT ·leaseAcquire(SB), NOSPLIT, $0-24
	MOVQ    r+0(FP), R11
	CMPL    8(R11), $1
	JNE     refuse              // not per-CPU: TryGetLive decides
	PID(refuse)
	CELL(refuse)
	UPDATE(8(R11), 1(DI))       // the reference: count+1
	CMPQ    R12, $1023
	JHI     notoken             // no home for this P id
	LEAQ    ·leaseHomes(SB), R11
	SHLQ    $8, R12
	ADDQ    R12, R11            // h = &leaseHomes[p]
	MOVQ    16(R11), R8         // t = h.next
	TESTQ   R8, R8
	JZ      notoken             // no home yet
	MOVQ    0(R8), DX           // v = t.w
	TESTQ   $1, DX
	JNZ     next                // held
	INCQ    DX
	MOVQ    DX, 0(R8)           // w = v+1: held by this Lease
	MOVQ    R8, t+8(FP)
	MOVQ    DX, gen+16(FP)
	RET
next:
	MOVQ    24(R11), AX         // the token after t: toks[(i+1) & mask]
	SUBQ    AX, R8
	SHRQ    $4, R8              // i
	INCL    R8
	ANDL    32(R11), R8
	SHLQ    $4, R8
	ADDQ    AX, R8
	MOVQ    0(R8), DX
	TESTQ   $1, DX
	JNZ     notoken             // held too: leaseTakeSlow looks further
	INCQ    DX
	MOVQ    DX, 0(R8)
	MOVQ    R8, 16(R11)         // h.next = t
	MOVQ    R8, t+8(FP)
	MOVQ    DX, gen+16(FP)
	RET
notoken:
	JMP     ·leaseTokenGo(SB)   // the reference is taken
restore:
	RESTORE                     // refused: the cell is as it was
refuse:
	JMP     ·leaseAcquireGo(SB) // nothing done

// func leaseRelease(r *Ref, t *leaseToken, gen uint64)
TEXT ·leaseRelease(SB), NOSPLIT, $0-24
	PID(none)
	MOVQ    t+8(FP), BX
	MOVQ    8(BX), R13          // h = t.home
	CMPQ    R12, $1023
	JHI     none                // no home for this P id
	LEAQ    ·leaseHomes(SB), R9
	MOVQ    R12, R10
	SHLQ    $8, R10
	ADDQ    R10, R9             // &leaseHomes[p]
	CMPQ    R9, R13
	JNE     none                // not t's home P
	MOVQ    0(R13), SI          // b = h.busy
	LEAQ    1(SI), R8
	MOVQ    R8, 0(R13)          // H1: busy = b+1
	ADDQ    $2, SI
	CMPL    8(R13), $1          // H2: h.mode == leaseBiased?
	JNE     unbusy
	MOVQ    gen+16(FP), DX
	CMPQ    0(BX), DX           // H3: w == gen?
	JNE     unbusy
	INCQ    DX
	MOVQ    DX, 0(BX)           // H4: w = gen+1
	MOVQ    SI, 0(R13)          // H5: busy = b+2
	MOVQ    r+0(FP), R11        // this Release won: Put
	CMPL    8(R11), $1
	JNE     tokenonly           // not per-CPU
	CELL(tokenonly)
	UPDATE(8(R11), -1(DI))      // count-1
	RET
restore:
	RESTORE                     // refused: the cell is as it was
tokenonly:
	JMP     ·leasePutGo(SB)     // the token is released
unbusy:
	MOVQ    SI, 0(R13)          // busy = b+2
none:
	JMP     ·leaseReleaseGo(SB) // nothing done
