//go:build !purego && !race

#include "textflag.h"

// func updateExclusive(c *atomic.Int64, state *atomic.Uint32, want uint32, delta int64) bool
//
// The cell's count is at 0(c), its busy flag at 8(c). x86 keeps stores in
// order and loads in order; the one reordering it allows, a later load before
// an earlier store (the busy store and the state load), is what the
// switcher's membarrier covers. No instruction here is locked.
TEXT ·updateExclusive(SB), NOSPLIT, $0-33
	MOVQ c+0(FP), AX
	MOVQ state+8(FP), CX
	MOVL want+16(FP), DX
	MOVQ delta+24(FP), SI
	MOVL $1, 8(AX)              // busy = 1
	CMPL (CX), DX               // *state == want?
	JNE  refuse
	MOVQ (AX), DI
	ADDQ SI, DI                 // n = count + delta
	MOVQ $0x1000000000000, R8   // CellLimit
	LEAQ (DI)(R8*1), R9         // n + CellLimit
	SHLQ $1, R8                 // 2*CellLimit
	CMPQ R9, R8
	JHI  refuse                 // unsigned: n outside [-CellLimit, CellLimit]
	MOVQ DI, (AX)               // count = n
	MOVL $0, 8(AX)              // busy = 0, after the count store
	MOVB $1, ret+32(FP)
	RET

refuse:
	MOVL $0, 8(AX)
	MOVB $0, ret+32(FP)
	RET
