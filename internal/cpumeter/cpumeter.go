// Package cpumeter reports the CPU time a benchmark's process used per
// operation, beside the wall time that testing reports. Only test files
// import it.
package cpumeter

import "testing"

// Meter reports, as cpu-ns/op, the CPU time the process used between
// Begin and End, per operation: every thread's, so that of the goroutines
// the measured code hands work to and of the garbage collector too, and
// with b.RunParallel the sum over the goroutines (about GOMAXPROCS times
// ns/op when they all run). On a shared machine, where other processes take
// turns on the CPUs, wall time per operation (ns/op) counts the turns too,
// and CPU time does not; and where the measured code leaves work to another
// goroutine, ns/op counts only what the caller waits for, and CPU time all
// of it. Where the process's CPU time cannot be read, End reports nothing.
type Meter struct{ start int64 }

// Begin starts the meter.
func (m *Meter) Begin() { m.start = processCPUTime() }

// End reports the CPU time since Begin per b.N operations.
func (m *Meter) End(b *testing.B) {
	if t := processCPUTime(); m.start >= 0 && t >= 0 && b.N > 0 {
		b.ReportMetric(float64(t-m.start)/float64(b.N), "cpu-ns/op")
	}
}
