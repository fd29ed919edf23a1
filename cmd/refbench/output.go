package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// writeTable writes the provenance header and one aligned table per kind
// of measurement.
func writeTable(w io.Writer, r *Report) error {
	r.Provenance.writeText(w)
	fmt.Fprintf(w, "# %d repetitions of %s per point; spread is min-max\n", r.Config.Count, r.Config.Duration)
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
		fmt.Fprintln(w, "\nThroughput (ns/op per goroutine; Mops/s aggregate; x atomic: throughput ratio)")
		fmt.Fprintln(tw, "workload\timpl\tgoroutines\tns/op\tspread\tMops/s\tspread\tx atomic\t")
		for _, x := range tp {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", x.Workload, x.Impl, x.Goroutines,
				num(x.NsPerOp.Median), spread(x.NsPerOp), num(x.Mops.Median), spread(x.Mops), ratio(x.RatioToAtomic))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(kl) > 0 {
		fmt.Fprintln(w, "\nKill latency (one live Ref, only the initial reference held)")
		fmt.Fprintln(tw, "impl\tshards\tns/Kill\tspread\t")
		for _, x := range kl {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", x.Impl, shardsName(x.Shards), num(x.NsPerOp.Median), spread(x.NsPerOp))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(kload) > 0 {
		fmt.Fprintln(w, "\nKill latency under load (GOMAXPROCS-1 goroutines run Get+Put and touch the Refs being killed;")
		fmt.Fprintln(w, "each Kill timed; atomic: a kref's last Put; x atomic: atomic's mean over this one's)")
		fmt.Fprintln(tw, "impl\tshards\tmean ns\tspread\tp50 ns\tspread\tp99 ns\tspread\tx atomic\t")
		for _, x := range kload {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", x.Impl, shardsName(x.Shards),
				num(x.NsPerOp.Median), spread(x.NsPerOp), num(x.P50.Median), spread(x.P50),
				num(x.P99.Median), spread(x.P99), ratio(x.RatioToAtomic))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(lc) > 0 {
		fmt.Fprintln(w, "\nLifecycle (make a count, drop its only reference, release; one goroutine, GC included;")
		fmt.Fprintln(w, "x atomic: atomic's time over this one's)")
		fmt.Fprintln(tw, "impl\tns/life\tspread\tx atomic\t")
		for _, x := range lc {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", x.Impl, num(x.NsPerOp.Median), spread(x.NsPerOp), ratio(x.RatioToAtomic))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(mem) > 0 {
		fmt.Fprintln(w, "\nMemory (heap bytes per live object, HeapAlloc delta after GC, in a fresh process at GOMAXPROCS=procs;")
		fmt.Fprintln(w, "target: 64 + 8 x procs for percpuref; off-heap: OtherSys delta per object, for 1000 objects or more)")
		fmt.Fprintln(tw, "impl\trefs\tprocs\tB/ref\tspread\ttarget\toff-heap\tshards\t")
		for _, x := range mem {
			sh, target, off := "-", "-", "-"
			if x.Shards > 0 {
				sh = strconv.Itoa(x.Shards)
			}
			if x.Impl == iPercpuref {
				target = strconv.Itoa(64 + 8*x.Procs)
			}
			if x.OffHeapPerRef != nil {
				off = num(x.OffHeapPerRef.Median)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", x.Impl, x.Refs, x.Procs,
				num(x.BytesPerRef.Median), spread(x.BytesPerRef), target, off, sh)
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

func spread(s *Summary) string { return num(s.Min) + "-" + num(s.Max) }

func ratio(s *Summary) string {
	if s == nil {
		return "-"
	}
	return strconv.FormatFloat(s.Median, 'f', 2, 64) + "x"
}

// writeJSON writes r as indented JSON.
func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// csvHeader is the first row of the CSV output. Each Result gives one row
// per metric it has: ns_per_op, mops, p50_ns, p99_ns, ratio_to_atomic,
// bytes_per_ref or offheap_bytes_per_ref.
var csvHeader = []string{"workload", "impl", "goroutines", "shards", "refs", "procs", "metric", "median", "min", "max", "q1", "q3", "n"}

// writeCSV writes r as CSV in long form: one row per result and metric.
func writeCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, x := range r.Results {
		for _, m := range []struct {
			name string
			s    *Summary
		}{{"ns_per_op", x.NsPerOp}, {"mops", x.Mops}, {"p50_ns", x.P50}, {"p99_ns", x.P99}, {"ratio_to_atomic", x.RatioToAtomic},
			{"bytes_per_ref", x.BytesPerRef}, {"offheap_bytes_per_ref", x.OffHeapPerRef}} {
			if m.s == nil {
				continue
			}
			row := []string{x.Workload, x.Impl, strconv.Itoa(x.Goroutines), strconv.Itoa(x.Shards), strconv.Itoa(x.Refs), strconv.Itoa(x.Procs),
				m.name, f(m.s.Median), f(m.s.Min), f(m.s.Max), f(m.s.Q1), f(m.s.Q3), strconv.Itoa(m.s.N)}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
