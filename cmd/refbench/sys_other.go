//go:build !linux

package main

// Elsewhere than on Linux, refbench does not read the kernel's release,
// caches or CPU times: the header says CPUID's caches and no host load.

func kernelRelease() string { return "" }

func osCaches() ([]string, string) { return nil, "" }

func cpuTimes() (busy, steal, total, own int64, ok bool) { return 0, 0, 0, 0, false }
