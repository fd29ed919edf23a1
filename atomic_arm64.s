//go:build !purego && !race

#include "textflag.h"

// The cell's count is at 0(cell), its busy flag at 8(cell). The busy store
// is a plain store: the switcher's membarrier orders it before the state
// load. The state load is a load-acquire, so the count's load and store
// cannot move above it; the count store and the clearing of busy are
// store-releases, so a switcher that reads busy == 0 with a load-acquire also
// sees the count. No store-only atomics (STADD and friends), which may
// execute "far".

// UPDATE is the body of both entry points, for R0 = cell, R1 = state,
// R2 = want, R3 = delta. It leaves the result in R4: 1 stored, 0 not.
#define UPDATE \
	ADD   $8, R0, R9            /* &busy */ \
	MOVW  $1, R4 \
	MOVW  R4, (R9)              /* busy = 1 */ \
	MOVD  ZR, R4 \
	LDARW (R1), R5              /* *state, acquire */ \
	CMPW  R2, R5 \
	BNE   done \
	MOVD  (R0), R6 \
	ADD   R3, R6, R6            /* n = count + delta */ \
	MOVD  $0x1000000000000, R7  /* CellLimit */ \
	ADD   R7, R6, R8            /* n + CellLimit */ \
	LSL   $1, R7, R7            /* 2*CellLimit */ \
	CMP   R7, R8 \
	BHI   done                  /* unsigned: n outside [-CellLimit, CellLimit] */ \
	STLR  R6, (R0)              /* count = n, release */ \
	MOVD  $1, R4 \
done: \
	STLRW ZR, (R9)              /* busy = 0, release, after the count store */

// func updateExclusive(c *atomic.Int64, state *atomic.Uint32, want uint32, delta int64) bool
TEXT ·updateExclusive(SB), NOSPLIT, $0-33
	MOVD  c+0(FP), R0
	MOVD  state+8(FP), R1
	MOVWU want+16(FP), R2
	MOVD  delta+24(FP), R3
	UPDATE
	MOVB  R4, ret+32(FP)
	RET

// func UpdateLocal(c *Cells, delta int64) bool
TEXT ·UpdateLocal(SB), NOSPLIT, $0-17
	MOVD  ·mOffP(SB), R11
	CBZ   R11, refuse           // runtime layout unknown
	MOVD  48(g), R10            // g.m
	MOVD  (R10)(R11), R10       // m.p
	MOVW  (R10), R10            // p.id, sign-extended
	MOVD  c+0(FP), R13
	CBZ   R13, refuse           // no cells
	MOVD  8(R13), R12           // c.Mask
	CMP   R12, R10
	BHI   refuse                // p.id > c.Mask: this P has no cell
	LSL   $7, R10, R10          // * CacheLinePad
	MOVD  0(R13), R0            // c.Base
	ADD   R10, R0, R0           // R0 = the P's cell
	MOVD  16(R13), R1           // c.State
	MOVWU 24(R13), R2           // c.Want
	MOVD  delta+8(FP), R3
	UPDATE
	MOVB  R4, ret+16(FP)
	RET
refuse:
	MOVB  ZR, ret+16(FP)
	RET

// func pid() int
TEXT ·pid(SB), NOSPLIT, $0-8
	MOVD  $-1, R0
	MOVD  R0, ret+0(FP)
	MOVD  ·mOffP(SB), R11
	CBZ   R11, nopid
	MOVD  48(g), R10            // g.m
	MOVD  (R10)(R11), R9        // m.p
	CBZ   R9, nopid
	MOVD  ·pOffM(SB), R12
	MOVD  (R9)(R12), R8         // p.m
	CMP   R8, R10
	BNE   nopid                 // not the P of this M
	MOVW  (R9), R9              // p.id
	MOVD  R9, ret+0(FP)
nopid:
	RET
