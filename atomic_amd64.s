//go:build !purego && !race

#include "textflag.h"

// The cell's count is at 0(cell), its busy flag at 8(cell). x86 keeps
// stores in order and loads in order; the one reordering it allows, a later
// load before an earlier store (the busy store and the state load), is what
// the switcher's membarrier covers. No instruction here is locked.

// UPDATE is the body of both entry points, for AX = cell, CX = state,
// DX = want, SI = delta. It leaves the result in BX: 1 stored, 0 not.
#define UPDATE \
	MOVL $1, 8(AX)              /* busy = 1 */ \
	MOVL $0, BX \
	CMPL (CX), DX               /* *state == want? */ \
	JNE  done \
	MOVQ (AX), DI \
	ADDQ SI, DI                 /* n = count + delta */ \
	MOVQ $0x1000000000000, R8   /* CellLimit */ \
	LEAQ (DI)(R8*1), R9         /* n + CellLimit */ \
	SHLQ $1, R8                 /* 2*CellLimit */ \
	CMPQ R9, R8 \
	JHI  done                   /* unsigned: n outside [-CellLimit, CellLimit] */ \
	MOVQ DI, (AX)               /* count = n */ \
	MOVL $1, BX \
done: \
	MOVL $0, 8(AX)              /* busy = 0, after the count store */

// func updateExclusive(c *atomic.Int64, state *atomic.Uint32, want uint32, delta int64) bool
TEXT ·updateExclusive(SB), NOSPLIT, $0-33
	MOVQ c+0(FP), AX
	MOVQ state+8(FP), CX
	MOVL want+16(FP), DX
	MOVQ delta+24(FP), SI
	UPDATE
	MOVB BX, ret+32(FP)
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
	CMPQ R10, 8(R11)            // c.Mask
	JHI  refuse                 // p.id > c.Mask: this P has no cell
	SHLQ $7, R10                // * CacheLinePad
	MOVQ 0(R11), AX             // c.Base
	ADDQ R10, AX                // AX = the P's cell
	MOVQ 16(R11), CX            // c.State
	MOVL 24(R11), DX            // c.Want
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
