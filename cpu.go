package percpu

import "github.com/klauspost/cpuid/v2"

// cacheLineSize and hasRDPID are found once, at package initialization.
// hasRDPID reports whether the CPU has the RDPID instruction, which reads
// IA32_TSC_AUX, where Linux keeps the number of the current CPU, without the
// time stamp that RDTSCP also reads: true only on amd64, from CPUID leaf 7
// subleaf 0, ECX bit 22, and false on other architectures and in builds with
// the purego tag. Only the benchmarks of CPU-number sources use it.
var (
	cacheLineSize = saneCacheLine(cpuid.CPU.CacheLine)
	hasRDPID      = rdpidFromCPUID(cpuidex)
)

// CacheLineSize returns the size in bytes of the L1 data cache line as the
// CPU reports it (through github.com/klauspost/cpuid/v2), or 128 where the
// size is unknown or not a power of two in [32, 1024]. It is found once, when
// the package is initialized, and is cheap to call.
//
// CacheLineSize is for memory laid out at run time, such as per-P slabs:
// align and space such memory by max(CacheLinePad, CacheLineSize()). Types
// keep the constant CacheLinePad, since a Go type's size is fixed at compile
// time, and 128 is the safe unit on x86 even where the CPU reports 64,
// because Intel's adjacent-line prefetcher fetches lines in pairs.
func CacheLineSize() int { return cacheLineSize }

// saneCacheLine returns n if it is a power of two in [32, 1024], and 128
// otherwise.
func saneCacheLine(n int) int {
	if n < 32 || n > 1024 || n&(n-1) != 0 {
		return 128
	}
	return n
}

// rdpidFromCPUID reports whether the CPU that query describes has RDPID:
// CPUID leaf 0 must report a maximum leaf of at least 7, and leaf 7
// subleaf 0 must set bit 22 of ECX.
func rdpidFromCPUID(query func(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)) bool {
	maxLeaf, _, _, _ := query(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx, _ := query(7, 0)
	return ecx&(1<<22) != 0
}
