package main

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
)

// schemaVersion is the version of the JSON layout (Report). It changes
// when a field is removed, renamed or changes meaning; new fields may
// appear without it changing. Version 1 had no schema_version field.
const schemaVersion = 2

// writeJSON writes r as indented JSON.
func writeJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// csvHeader is the first row of the CSV output. Each Result gives one row
// per metric it has: ns_per_op, mops, p50_ns, p99_ns, ratio_to_atomic,
// bytes_per_ref or offheap_bytes_per_ref. A cell that does not apply to
// the row (the goroutines of a memory result, the interval where there
// were too few repetitions for one, p except for ratio_to_atomic) is
// empty.
var csvHeader = []string{"workload", "impl", "goroutines", "shards", "refs", "procs", "metric", "median", "ci_lo", "ci_hi", "min", "max", "n", "p"}

// writeCSV writes r as CSV in long form, one row per result and metric,
// after the provenance as comment lines starting with #.
func writeCSV(w io.Writer, r *Report) error {
	writeHeader(w, r)
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	count := func(n int) string { // "" for 0, which means not applicable
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	for _, x := range r.Results {
		shards := count(x.Shards)
		if x.Workload == wKillLatency || x.Workload == wKillLoad {
			shards = shardsName(x.Shards)
		}
		for _, m := range []struct {
			name string
			s    *Summary
		}{{"ns_per_op", x.NsPerOp}, {"mops", x.Mops}, {"p50_ns", x.P50}, {"p99_ns", x.P99}, {"ratio_to_atomic", x.RatioToAtomic},
			{"bytes_per_ref", x.BytesPerRef}, {"offheap_bytes_per_ref", x.OffHeapPerRef}} {
			if m.s == nil {
				continue
			}
			lo, hi, p := "", "", ""
			if m.s.CI != nil {
				lo, hi = f(m.s.CI.Lo), f(m.s.CI.Hi)
			}
			if m.name == "ratio_to_atomic" && x.VsAtomic != nil {
				p = f(x.VsAtomic.P)
			}
			row := []string{x.Workload, x.Impl, count(x.Goroutines), shards, count(x.Refs), count(x.Procs),
				m.name, f(m.s.Median), lo, hi, f(m.s.Min), f(m.s.Max), strconv.Itoa(m.s.N), p}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
