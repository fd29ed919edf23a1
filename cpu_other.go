//go:build !amd64 || purego

package percpu

// cpuAsm is false: the functions below are stand-ins.
const cpuAsm = false

// Generic twins of the assembly in cpu_amd64.s, for other architectures and
// the purego build: there is no CPUID, RDTSCP or RDPID to execute.

// cpuidex returns zeros, which read as "maximum leaf 0": no features.
func cpuidex(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) { return 0, 0, 0, 0 }

// rdtscpAux returns 0; callers first check that the CPU has RDTSCP.
func rdtscpAux() uint32 { return 0 }

// rdpidAux returns 0; callers first check HasRDPID.
func rdpidAux() uint32 { return 0 }
