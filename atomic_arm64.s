//go:build !purego && !race

#include "textflag.h"

// func updateExclusive(c *atomic.Int64, state *atomic.Uint32, want uint32, delta int64) bool
//
// The cell's count is at 0(c), its busy flag at 8(c). The busy store is a
// plain store: the switcher's membarrier orders it before the state load.
// The state load is a load-acquire, so the count's load and store cannot move
// above it; the count store and the clearing of busy are store-releases, so
// a switcher that reads busy == 0 with a load-acquire also sees the count.
// No store-only atomics (STADD and friends), which may execute "far".
TEXT ·updateExclusive(SB), NOSPLIT, $0-33
	MOVD  c+0(FP), R0
	MOVD  state+8(FP), R1
	MOVWU want+16(FP), R2
	MOVD  delta+24(FP), R3
	ADD   $8, R0, R9            // &busy
	MOVW  $1, R4
	MOVW  R4, (R9)              // busy = 1
	LDARW (R1), R5              // *state, acquire
	CMPW  R2, R5
	BNE   refuse
	MOVD  (R0), R6
	ADD   R3, R6, R6            // n = count + delta
	MOVD  $0x1000000000000, R7  // CellLimit
	ADD   R7, R6, R8            // n + CellLimit
	LSL   $1, R7, R7            // 2*CellLimit
	CMP   R7, R8
	BHI   refuse                // unsigned: n outside [-CellLimit, CellLimit]
	STLR  R6, (R0)              // count = n, release
	STLRW ZR, (R9)              // busy = 0, release
	MOVD  $1, R4
	MOVB  R4, ret+32(FP)
	RET

refuse:
	STLRW ZR, (R9)
	MOVB  ZR, ret+32(FP)
	RET
