package percpu

import "github.com/klauspost/cpuid/v2"

// Exports for the benchmarks in bench_cpu_test.go. They are functions, not
// variables holding functions, so that the benchmarks call the assembly
// directly, as they call Hint.

// HasRDPID reports whether RdpidAux executes RDPID.
func HasRDPID() bool { return hasRDPID }

// HasRDTSCP reports whether RdtscpAux executes RDTSCP.
func HasRDTSCP() bool { return cpuAsm && cpuid.CPU.Has(cpuid.RDTSCP) }

// RdtscpAux returns IA32_TSC_AUX read by RDTSCP; call it only if HasRDTSCP.
func RdtscpAux() uint32 { return rdtscpAux() }

// RdpidAux returns IA32_TSC_AUX read by RDPID; call it only if HasRDPID.
func RdpidAux() uint32 { return rdpidAux() }
