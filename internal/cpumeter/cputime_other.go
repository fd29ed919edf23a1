//go:build !unix

package cpumeter

// processCPUTime returns -1: the process's CPU time is not read here.
func processCPUTime() int64 { return -1 }
