// The single-writer update, shared by the assembly of package percpu
// (atomic_amd64.s) and of package percpuref (fast_amd64.s, which includes
// a copy of this file: go generate there writes it, a "Code generated" line
// and then this file, and its tests check that it still is exactly that).
// The protocol it implements is argued in internal/fastpath (UpdateLocal) and
// percpuref/protocol.go.
//
// A cell is one 64-bit count. x86 keeps stores in order and loads in order;
// the one reordering it allows, a later load before an earlier store (the
// busy mark's store and the state load), is what the switcher's membarrier
// covers. No instruction here is locked.

// LOCATE(unknown, refuse, nocells) finds the calling goroutine's cell in
// the Cells at R11 (not nil), for the P it runs on: it leaves the cell's
// address in AX, or jumps to nocells if the Cells have no Base (checked
// first: a Ref without cells needs no P, and the four dependent loads that
// find the P would delay the locked instruction that nocells goes on to),
// to unknown if the runtime layout is unknown (the including package's
// mOffP is 0), or to refuse if the P has no cell.
// It clobbers CX, DX, R9 and R10. The caller must be NOSPLIT assembly, which
// the runtime neither preempts nor moves to another P (see atomic_asm.go),
// from here to its last store to the cell.
#define LOCATE(unknown, refuse, nocells) \
	MOVQ    0(R11), AX          /* Base, first: Last and Shift are set before it */ \
	TESTQ   AX, AX \
	JZ      nocells             /* no cells */ \
	MOVQ    ·mOffP(SB), DX \
	TESTQ   DX, DX \
	JZ      unknown             /* runtime layout unknown */ \
	MOVQ    TLS, R10 \
	MOVQ    0(R10)(TLS*1), R10  /* g */ \
	MOVQ    48(R10), R10        /* g.m */ \
	MOVQ    (R10)(DX*1), R10    /* m.p */ \
	MOVLQSX (R10), R10          /* p.id */ \
	MOVWQZX 12(R11), R9         /* Last */ \
	CMPQ    R10, R9 \
	JHI     refuse              /* p.id > Last: this P has no cell */ \
	MOVBQZX 14(R11), CX         /* Shift */ \
	SHLQ    CX, R10 \
	ADDQ    R10, AX             /* AX = the P's cell */

// UPDATE(state, n) is the update itself, for AX = cell, with the state
// word at the memory operand state and n, the new count, at the address
// expression n of DI = v (such as (DI)(SI*1) for a delta in SI, or 1(DI)
// for a constant delta of 1). It falls through having stored n, or jumps to
// the label restore, where the caller stores v back with RESTORE. Whatever
// happens, the cell ends holding either v (its count on entry) or n; in
// between it holds v+busyMark. It clobbers DI (v), R8, R9 and R10.
#define UPDATE(state, n) \
	MOVQ (AX), DI               /* v = count */ \
	MOVQ $0x1000000000000000, R8 /* busyMark */ \
	ADDQ DI, R8 \
	MOVQ R8, (AX)               /* count = v + busyMark: busy */ \
	CMPL state, $1              /* state == Live? */ \
	JNE  restore \
	LEAQ n, R9                  /* n = v + delta */ \
	MOVQ $0x1000000000000, R8   /* CellLimit */ \
	LEAQ (R9)(R8*1), R10        /* n + CellLimit */ \
	SHLQ $1, R8                 /* 2*CellLimit */ \
	CMPQ R10, R8 \
	JHI  restore                /* unsigned: n outside [-CellLimit, CellLimit] */ \
	MOVQ R9, (AX)               /* count = n: stored, not busy */

// RESTORE stores v back, for UPDATE's refusals: the cell is no longer busy.
#define RESTORE \
	MOVQ DI, (AX)
