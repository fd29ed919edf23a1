//go:build !purego && !race

#include "textflag.h"

// func AsmAdd(c *atomic.Int64, d int64)
TEXT ·AsmAdd(SB), NOSPLIT, $0-16
	MOVQ c+0(FP), R11
	MOVQ d+8(FP), AX
	LOCK
	XADDQ AX, 0(R11)
	RET
