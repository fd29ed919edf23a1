//go:build amd64 && !purego

#include "textflag.h"

// func cpuidex(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuidex(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL subleaf+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func rdtscpAux() uint32
TEXT ·rdtscpAux(SB), NOSPLIT, $0-4
	RDTSCP                  // EDX:EAX = TSC, ECX = IA32_TSC_AUX
	MOVL CX, ret+0(FP)
	RET

// func rdpidAux() uint32
TEXT ·rdpidAux(SB), NOSPLIT, $0-4
	RDPID AX                // RAX = IA32_TSC_AUX, zero-extended
	MOVL AX, ret+0(FP)
	RET
