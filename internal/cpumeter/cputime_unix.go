//go:build unix

package cpumeter

import "syscall"

// processCPUTime returns the CPU time the process has used so far, in
// nanoseconds (user and system, every thread), or -1 where unknown.
func processCPUTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
