//go:build amd64 && !purego

package percpu

// cpuAsm is true: cpuidex, rdtscpAux and rdpidAux execute the instructions.
const cpuAsm = true

// The functions below are in cpu_amd64.s; cpu_other.go has their generic
// twins. None of them touches Go memory except its own results, so they are
// also used in race builds.

// cpuidex executes CPUID with EAX = leaf and ECX = subleaf.
func cpuidex(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)

// rdtscpAux returns IA32_TSC_AUX as read by RDTSCP; Linux keeps the CPU
// number in its low 12 bits and the NUMA node above them. The caller must
// know that the CPU has RDTSCP (cpuid.RDTSCP), or the instruction faults.
func rdtscpAux() uint32

// rdpidAux returns IA32_TSC_AUX as read by RDPID (see rdtscpAux). The
// caller must know that HasRDPID is true, or the instruction faults.
func rdpidAux() uint32
