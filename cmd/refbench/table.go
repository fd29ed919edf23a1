package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// writeTable writes the provenance header and one aligned table per kind
// of measurement.
func writeTable(w io.Writer, r *Report) error {
	writeHeader(w, r)
	fmt.Fprintf(w, "# %d repetitions of %s per point. ± is the %.0f%% confidence interval of the median (benchmath, as in\n", r.Config.Count, r.Config.Duration, 100*confidence)
	fmt.Fprintf(w, "# benchstat). x atomic is the median of each repetition's ratio to atomic, with its interval, and the\n")
	fmt.Fprintf(w, "# p-value of the Mann-Whitney U test against atomic's repetitions; ~ where p >= %.2f (no significant difference).\n", 1-confidence)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var tp, kl, kload, lc, mem []Result
	for _, x := range r.Results {
		switch x.Workload {
		case wMemory:
			mem = append(mem, x)
		case wKillLatency:
			kl = append(kl, x)
		case wKillLoad:
			kload = append(kload, x)
		case wLifecycle:
			lc = append(lc, x)
		default:
			tp = append(tp, x)
		}
	}
	if len(tp) > 0 {
		fmt.Fprintln(w, "\nThroughput (ns/op per goroutine: wall time x goroutines / operations; Mops/s aggregate; x atomic: throughput ratio)")
		fmt.Fprintln(tw, "workload\timpl\tgoroutines\tns/op\t±\tMops/s\t±\tx atomic\t95% CI\tp\t")
		for _, x := range tp {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", x.Workload, x.Impl, x.Goroutines,
				num(x.NsPerOp.Median), pct(x.NsPerOp), num(x.Mops.Median), pct(x.Mops), vsAtomic(x))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(kl) > 0 {
		fmt.Fprintln(w, "\nKill latency (one live Ref, only the initial reference held)")
		fmt.Fprintln(tw, "impl\tshards\tns/Kill\t±\t")
		for _, x := range kl {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", x.Impl, shardsName(x.Shards), num(x.NsPerOp.Median), pct(x.NsPerOp))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(kload) > 0 {
		fmt.Fprintln(w, "\nKill latency under load (GOMAXPROCS-1 goroutines run Get+Put and touch the Refs being killed;")
		fmt.Fprintln(w, "each Kill timed; atomic: a kref's last Put; x atomic: atomic's mean over this one's)")
		fmt.Fprintln(tw, "impl\tshards\tmean ns\t±\tp50 ns\t±\tp99 ns\t±\tx atomic\t95% CI\tp\t")
		for _, x := range kload {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Impl, shardsName(x.Shards),
				num(x.NsPerOp.Median), pct(x.NsPerOp), num(x.P50.Median), pct(x.P50),
				num(x.P99.Median), pct(x.P99), vsAtomic(x))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(lc) > 0 {
		fmt.Fprintln(w, "\nLifecycle (make a count, drop its only reference, release; one goroutine, GC included;")
		fmt.Fprintln(w, "x atomic: atomic's time over this one's)")
		fmt.Fprintln(tw, "impl\tns/life\t±\tx atomic\t95% CI\tp\t")
		for _, x := range lc {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", x.Impl, num(x.NsPerOp.Median), pct(x.NsPerOp), vsAtomic(x))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(mem) > 0 {
		fmt.Fprintln(w, "\nMemory (heap bytes per live object, HeapAlloc delta after GC, in a fresh process at GOMAXPROCS=procs;")
		fmt.Fprintln(w, "target: 64 + 8 x procs for a Ref with its slot; off-heap: OtherSys delta per object, for 1000 objects or more)")
		fmt.Fprintln(tw, "impl\trefs\tprocs\tB/ref\t±\ttarget\toff-heap\tshards\t")
		for _, x := range mem {
			sh, target, off := "-", "-", "-"
			if x.Shards > 0 {
				sh = strconv.Itoa(x.Shards)
			}
			if x.Impl == iPercpurefEager { // the default percpuref, uncontended, has no slot
				target = strconv.Itoa(64 + 8*x.Procs)
			}
			if x.OffHeapPerRef != nil {
				off = num(x.OffHeapPerRef.Median)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", x.Impl, x.Refs, x.Procs,
				num(x.BytesPerRef.Median), pct(x.BytesPerRef), target, off, sh)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// num formats a value with three significant figures or more.
func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// pct formats the confidence interval of s as benchstat does: the larger
// of its two distances from the median, in percent of it; ∞ where there
// were too few repetitions for an interval.
func pct(s *Summary) string {
	if s.CI == nil {
		return "∞"
	}
	if s.Median == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", 100*max(s.CI.Hi/s.Median-1, 1-s.CI.Lo/s.Median))
}

// vsAtomic formats the ratio to atomic of x in three tab-separated cells:
// the median ratio ("~" if not significantly different from atomic's,
// "base" for atomic itself, "-" where atomic did not run), its confidence
// interval, and the p-value.
func vsAtomic(x Result) string {
	s := x.RatioToAtomic
	switch {
	case s == nil:
		return "-\t\t"
	case x.VsAtomic == nil:
		return "base\t\t"
	}
	r := strconv.FormatFloat(s.Median, 'f', 2, 64) + "x"
	if !x.VsAtomic.Significant {
		r = "~"
	}
	ci := "∞"
	if s.CI != nil {
		ci = strconv.FormatFloat(s.CI.Lo, 'f', 2, 64) + "-" + strconv.FormatFloat(s.CI.Hi, 'f', 2, 64)
	}
	return fmt.Sprintf("%s\t%s\t%.3f", r, ci, x.VsAtomic.P)
}
