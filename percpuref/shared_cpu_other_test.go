//go:build !unix

package percpuref

// sharedCPUTime returns -1: the process's CPU time is not read here.
func sharedCPUTime() int64 { return -1 }
