package main

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// kernelRelease returns what uname -r prints.
func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return "Linux " + strings.TrimSpace(string(b))
}

// osCaches describes the caches of CPU 0 as the kernel reports them in
// sysfs (which, in a virtual machine, may differ from what CPUID says):
// "L2 1 MiB", and which CPUs share a cache where that is more than one.
func osCaches() ([]string, string) {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	sort.Strings(dirs)
	read := func(dir, name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b))
	}
	var out []string
	for _, d := range dirs {
		level, typ, size := read(d, "level"), read(d, "type"), read(d, "size")
		if level == "" || size == "" {
			continue
		}
		name := "L" + level
		switch typ {
		case "Data":
			name += "d"
		case "Instruction":
			name += "i"
		}
		if n, err := strconv.ParseInt(strings.TrimSuffix(size, "K"), 10, 64); err == nil && strings.HasSuffix(size, "K") {
			size = sizeName(n << 10)
		}
		s := name + " " + size
		if shared := read(d, "shared_cpu_list"); strings.ContainsAny(shared, ",-") {
			s += " shared by CPUs " + shared
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, "sysfs"
}

// cpuTimes returns the CPU time, in clock ticks since boot, that the whole
// machine spent busy (user, nice, system, irq, softirq), stolen by the
// hypervisor, and in all, and the time this process and its waited-for
// children used; ok is false where they cannot be read.
func cpuTimes() (busy, steal, total, own int64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, 0, false
	}
	var v [8]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		total += v[i]
	}
	// user nice system idle iowait irq softirq steal
	busy = v[0] + v[1] + v[2] + v[5] + v[6]
	steal = v[7]
	b, err = os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, 0, 0, false
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis. utime, stime, cutime and cstime are
	// the 14th to 17th fields of the line, the 12th to 15th after it.
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(rest) < 15 {
		return 0, 0, 0, 0, false
	}
	for _, x := range rest[11:15] {
		n, _ := strconv.ParseInt(x, 10, 64)
		own += n
	}
	return busy, steal, total, own, true
}
