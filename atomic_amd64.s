//go:build !purego && !race

#include "textflag.h"

// A cell is one 64-bit count. x86 keeps stores in order and loads in order;
// the one reordering it allows, a later load before an earlier store (the
// busy mark's store and the state load), is what the switcher's membarrier
// covers. No instruction here is locked.

// UPDATE is the body of both entry points, for AX = cell, CX = &state,
// SI = delta. It leaves the result in BX: 1 stored, 0 not. Whatever
// happens, the cell ends holding either v (its count on entry) or v+delta;
// in between it holds v+busyMark.
#define UPDATE \
	MOVQ (AX), DI               /* v = count */ \
	MOVQ $0x1000000000000000, R8 /* busyMark */ \
	ADDQ DI, R8 \
	MOVQ R8, (AX)               /* count = v + busyMark: busy */ \
	MOVL $0, BX \
	CMPL (CX), $1               /* state == Live? */ \
	JNE  restore \
	LEAQ (DI)(SI*1), R9         /* n = v + delta */ \
	MOVQ $0x1000000000000, R8   /* CellLimit */ \
	LEAQ (R9)(R8*1), R10        /* n + CellLimit */ \
	SHLQ $1, R8                 /* 2*CellLimit */ \
	CMPQ R10, R8 \
	JHI  restore                /* unsigned: n outside [-CellLimit, CellLimit] */ \
	MOVQ R9, (AX)               /* count = n: stored, not busy */ \
	MOVL $1, BX \
	JMP  done \
restore: \
	MOVQ DI, (AX)               /* count = v: not busy */ \
done:

// func updateExclusive(c *atomic.Int64, state *atomic.Uint32, delta int64) bool
TEXT ·updateExclusive(SB), NOSPLIT, $0-25
	MOVQ c+0(FP), AX
	MOVQ state+8(FP), CX
	MOVQ delta+16(FP), SI
	UPDATE
	MOVB BX, ret+24(FP)
	RET

// func UpdateLocal(c *Cells, delta int64) bool
TEXT ·UpdateLocal(SB), NOSPLIT, $0-17
	MOVQ ·mOffP(SB), R11
	TESTQ R11, R11
	JZ   refuse                 // runtime layout unknown
	MOVQ TLS, R10
	MOVQ 0(R10)(TLS*1), R10     // g
	MOVQ 48(R10), R10           // g.m
	MOVQ (R10)(R11*1), R10      // m.p
	MOVLQSX (R10), R10          // p.id
	MOVQ c+0(FP), R11
	TESTQ R11, R11
	JZ   refuse                 // no cells
	MOVQ 0(R11), AX             // c.Base, first: Last and Shift are set before it
	TESTQ AX, AX
	JZ   refuse                 // no cells
	MOVWQZX 12(R11), R9         // c.Last
	CMPQ R10, R9
	JHI  refuse                 // p.id > c.Last: this P has no cell
	MOVBQZX 14(R11), CX         // c.Shift
	SHLQ CX, R10
	ADDQ R10, AX                // AX = the P's cell
	LEAQ 8(R11), CX             // &c.State
	MOVQ delta+8(FP), SI
	UPDATE
	MOVB BX, ret+16(FP)
	RET
refuse:
	MOVB $0, ret+16(FP)
	RET

// func pid() int
TEXT ·pid(SB), NOSPLIT, $0-8
	MOVQ $-1, ret+0(FP)
	MOVQ ·mOffP(SB), R11
	TESTQ R11, R11
	JZ   nopid
	MOVQ TLS, R10
	MOVQ 0(R10)(TLS*1), R10     // g
	MOVQ 48(R10), R10           // g.m
	MOVQ (R10)(R11*1), R9       // m.p
	TESTQ R9, R9
	JZ   nopid
	MOVQ ·pOffM(SB), R12
	MOVQ (R9)(R12*1), R8        // p.m
	CMPQ R8, R10
	JNE  nopid                  // not the P of this M
	MOVLQSX (R9), R9            // p.id
	MOVQ R9, ret+0(FP)
nopid:
	RET
