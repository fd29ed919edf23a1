//go:build !purego && !race

#include "textflag.h"

// A cell is one 64-bit count. The busy mark's store is a plain store: the
// switcher's membarrier orders it before the state load. The state load is a
// load-acquire, so the final store cannot move above it; the final store
// (the new count, or the old one restored) is a store-release, so a switcher
// that reads the cell without the mark, with a load-acquire, also sees every
// access before it. No store-only atomics (STADD and friends), which may
// execute "far".

// UPDATE is the body of both entry points, for R0 = cell, R1 = &state,
// R3 = delta. It leaves the result in R4: 1 stored, 0 not. Whatever
// happens, the cell ends holding either v (its count on entry) or v+delta;
// in between it holds v+busyMark.
#define UPDATE \
	MOVD  (R0), R6              /* v = count */ \
	MOVD  $0x1000000000000000, R7 /* busyMark */ \
	ADD   R6, R7, R7 \
	MOVD  R7, (R0)              /* count = v + busyMark: busy */ \
	MOVD  ZR, R4 \
	LDARW (R1), R5              /* state, acquire */ \
	CMPW  $1, R5                /* Live? */ \
	BNE   restore \
	ADD   R3, R6, R8            /* n = v + delta */ \
	MOVD  $0x1000000000000, R7  /* CellLimit */ \
	ADD   R7, R8, R9            /* n + CellLimit */ \
	LSL   $1, R7, R7            /* 2*CellLimit */ \
	CMP   R7, R9 \
	BHI   restore               /* unsigned: n outside [-CellLimit, CellLimit] */ \
	STLR  R8, (R0)              /* count = n, release: stored, not busy */ \
	MOVD  $1, R4 \
	B     done \
restore: \
	STLR  R6, (R0)              /* count = v, release: not busy */ \
done:

// func updateExclusive(c *atomic.Int64, state *atomic.Uint32, delta int64) bool
TEXT ·updateExclusive(SB), NOSPLIT, $0-25
	MOVD  c+0(FP), R0
	MOVD  state+8(FP), R1
	MOVD  delta+16(FP), R3
	UPDATE
	MOVB  R4, ret+24(FP)
	RET

// func updateLocal(c *cells.Cells, delta int64) bool
TEXT ·updateLocal(SB), NOSPLIT, $0-17
	MOVD  ·mOffP(SB), R11
	CBZ   R11, pinned           // runtime layout unknown: the procPin tier
	MOVD  48(g), R10            // g.m
	MOVD  (R10)(R11), R10       // m.p
	MOVW  (R10), R10            // p.id, sign-extended
	MOVD  c+0(FP), R13
	CBZ   R13, refuse           // no cells
	LDAR  (R13), R0             // c.Base, acquire: Last and Shift are set before it
	CBZ   R0, refuse            // no cells
	MOVHU 12(R13), R12          // c.Last
	CMP   R12, R10
	BHI   refuse                // p.id > c.Last: this P has no cell
	MOVBU 14(R13), R12          // c.Shift
	LSL   R12, R10, R10
	ADD   R10, R0, R0           // R0 = the P's cell
	ADD   $8, R13, R1           // &c.State
	MOVD  delta+8(FP), R3
	UPDATE
	MOVB  R4, ret+16(FP)
	RET
refuse:
	MOVB  ZR, ret+16(FP)
	RET
pinned:
	JMP   ·updatePinned(SB)

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
