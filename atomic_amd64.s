//go:build !purego && !race

#include "textflag.h"

#include "update_amd64.h"

// func updateExclusive(c *atomic.Int64, state *atomic.Uint32, delta int64) bool
TEXT ·updateExclusive(SB), NOSPLIT, $0-25
	MOVQ c+0(FP), AX
	MOVQ state+8(FP), CX
	MOVQ delta+16(FP), SI
	UPDATE((CX), (DI)(SI*1))
	MOVB $1, ret+24(FP)
	RET
restore:
	RESTORE
	MOVB $0, ret+24(FP)
	RET

// func updateLocal(c *cells.Cells, delta int64) bool
TEXT ·updateLocal(SB), NOSPLIT, $0-17
	MOVQ c+0(FP), R11
	TESTQ R11, R11
	JZ   refuse                 // no cells
	LOCATE(pinned, refuse, refuse)
	MOVQ delta+8(FP), SI
	UPDATE(8(R11), (DI)(SI*1))  // c.State
	MOVB $1, ret+16(FP)
	RET
restore:
	RESTORE
refuse:
	MOVB $0, ret+16(FP)
	RET
pinned:
	JMP  ·updatePinned(SB)      // runtime layout unknown: the procPin tier

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
