package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/percpuref/percpu/internal/alu"
)

// A Host says how busy the machine looked during a run. Two signs: the
// share of CPU time that other processes used (and that a hypervisor
// stole), read from the kernel's counters where it has them (Linux), and
// the arithmetic probe of the root package's BenchmarkMachine, timed before
// and after the run: four independent chains of arithmetic, bound by the
// core's instruction throughput, which slow down when the host puts other
// work on the same physical core, as the per-CPU Get+Put does while
// atomic.Int64 hardly moves (README, "Results").
type Host struct {
	ProbeBefore float64 `json:"probe_ns_before"` // ns per iteration of the probe, before the run
	ProbeAfter  float64 `json:"probe_ns_after"`  // and after it
	// OthersCPU is the share of the machine's CPU time that processes
	// other than refbench and its children used during the run; Steal the
	// share the hypervisor took. Absent where the kernel does not say.
	OthersCPU *float64 `json:"others_cpu,omitempty"`
	Steal     *float64 `json:"steal,omitempty"`
	// Busy is set if others used 10% of the CPU time or more, the
	// hypervisor stole 5% or more, or the probe moved by more than 20%.
	Busy bool `json:"busy"`
}

// String says whether the host was quiet or busy, and why, in a line.
func (h *Host) String() string {
	s := "quiet"
	if h.Busy {
		s = "BUSY, the ratios may be off (README: \"Reading your own run\")"
	}
	if h.OthersCPU != nil {
		s += fmt.Sprintf(": other processes used %.0f%% of the CPU time during the run, the hypervisor stole %.0f%%;", 100**h.OthersCPU, 100**h.Steal)
	} else {
		s += ":"
	}
	return s + fmt.Sprintf(" arithmetic probe %.2f ns/iteration before, %.2f after", h.ProbeBefore, h.ProbeAfter)
}

// A hostMeter measures a Host: startHost before the run, finish after it.
type hostMeter struct {
	probe                   float64
	busy, steal, total, own int64
	ok                      bool
}

func startHost() *hostMeter {
	// The probe before the run follows the program's start, when the vCPU
	// may still be coming out of idle: timed cold, it read 25-35% slower
	// than after the run on a quiet host in three runs of four, which
	// flagged them busy. Run it unmeasured first, as a benchmark warms up.
	warm := time.Now()
	for time.Since(warm) < probeWarmup {
		probe()
	}
	m := &hostMeter{probe: probe()}
	m.busy, m.steal, m.total, m.own, m.ok = cpuTimes()
	return m
}

func (m *hostMeter) finish() *Host {
	h := &Host{ProbeBefore: m.probe}
	busy, steal, total, own, ok := cpuTimes()
	if ok && m.ok && total > m.total {
		all := float64(total - m.total)
		others := max(0, float64((busy-m.busy)-(own-m.own))/all)
		stolen := float64(steal-m.steal) / all
		h.OthersCPU, h.Steal = &others, &stolen
		h.Busy = others >= 0.10 || stolen >= 0.05
	}
	h.ProbeAfter = probe()
	if r := h.ProbeAfter / h.ProbeBefore; r > 1.2 || r < 1/1.2 {
		h.Busy = true
	}
	return h
}

// probeRuns and probeTime are how many times the probe runs, and for
// about how long each time; the median is reported.
const (
	probeRuns   = 5
	probeTime   = 4 * time.Millisecond
	probeWarmup = 200 * time.Millisecond
)

// probe returns the ns per iteration of BenchmarkMachine's arithmetic
// loop (internal/alu): the median of probeRuns runs of about probeTime.
func probe() float64 {
	var ns [probeRuns]float64
	a := [4]uint64{1, 2, 3, 4}
	for i := range ns {
		n := 0
		t0 := time.Now()
		for n == 0 || time.Since(t0) < probeTime {
			a = alu.Run(a, 1<<14)
			n += 1 << 14
		}
		ns[i] = float64(time.Since(t0).Nanoseconds()) / float64(n)
	}
	sink.Add(int64(a[0] + a[1] + a[2] + a[3]))
	slices.Sort(ns[:])
	return ns[probeRuns/2]
}
