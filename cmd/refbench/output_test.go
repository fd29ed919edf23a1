package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleReport is a small Report with one result of each kind.
func sampleReport() *Report {
	s := func(m float64) *Summary {
		return &Summary{Median: m, CI: &Interval{Lo: m - 0.5, Hi: m + 0.5, Confidence: 0.96875}, Min: m - 1, Max: m + 1, N: 3}
	}
	reps := func(unit string, vs ...float64) []Rep {
		var rs []Rep
		for _, v := range vs {
			rs = append(rs, Rep{Ops: 1000, Values: map[string]float64{unit: v}})
		}
		return rs
	}
	return &Report{
		SchemaVersion: schemaVersion,
		Provenance:    collectProvenance([]string{"-count", "3"}, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		Config: ReportConfig{Duration: "100ms", Goroutines: []int{1, 2}, Impls: allImpls, Workloads: allWorkloads, Count: 3, Shards: []int{1, 64},
			MemoryRefs: []int{1, 100000}, MemoryProcs: []int{2, 64}},
		Results: []Result{
			{Workload: wGetPut, Impl: iPercpuref, Goroutines: 2, NsPerOp: s(10), Mops: s(200), RatioToAtomic: s(4),
				VsAtomic: &Comparison{P: 0.002, Alpha: 0.05, Significant: true, N1: 3, N2: 3}, Reps: reps(unitNsPerOp, 9, 10, 11)},
			{Workload: wGetPut, Impl: iAtomic, Goroutines: 2, NsPerOp: s(40), Mops: s(50), RatioToAtomic: s(1), Reps: reps(unitNsPerOp, 39, 40, 41)},
			{Workload: wGetPut, Impl: iCAS, Goroutines: 2, NsPerOp: s(41), Mops: s(49), RatioToAtomic: s(0.98),
				VsAtomic: &Comparison{P: 0.7, Alpha: 0.05, N1: 3, N2: 3}, Reps: reps(unitNsPerOp, 40, 41, 42)},
			{Workload: wKillLatency, Impl: iPercpuref, Shards: 64, NsPerOp: s(2000), Reps: reps(unitNsPerOp, 1999, 2000, 2001)},
			{Workload: wKillLoad, Impl: iPercpuref, Shards: slotsShards, NsPerOp: s(3000), P50: s(2500), P99: s(30000), RatioToAtomic: s(0.02),
				VsAtomic: &Comparison{P: 0.01, Alpha: 0.05, Significant: true, N1: 3, N2: 3}, Reps: reps(unitNsPerOp, 2999, 3000, 3001)},
			{Workload: wLifecycle, Impl: iPercpuref, NsPerOp: s(900), RatioToAtomic: s(0.1),
				VsAtomic: &Comparison{P: 0.01, Alpha: 0.05, Significant: true, N1: 3, N2: 3}, Reps: reps(unitNsPerOp, 899, 900, 901)},
			{Workload: wMemory, Impl: iPercpurefEager, Refs: 100000, Procs: 64, Shards: 64, BytesPerRef: s(600), OffHeapPerRef: s(48), Reps: reps(unitBytes, 599, 600, 601)},
		},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	var buf bytes.Buffer
	if err := writeJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, r) {
		t.Errorf("JSON round trip changed the report:\n got %+v\nwant %+v", back, *r)
	}
	if !strings.HasPrefix(buf.String(), "{\n  \"schema_version\": 2,") {
		t.Errorf("JSON does not start with its schema version:\n%.80s", buf.String())
	}
	for _, field := range []string{`"go_version"`, `"fast_path"`, `"cpu"`, `"gomaxprocs"`, `"ratio_to_atomic"`, `"vs_atomic"`, `"ci"`,
		`"bytes_per_ref"`, `"offheap_bytes_per_ref"`, `"procs"`, `"memory_procs"`, `"p50_ns"`, `"p99_ns"`, `"reps"`, `"ns/op"`} {
		if !strings.Contains(buf.String(), field) {
			t.Errorf("JSON has no %s", field)
		}
	}
}

func TestCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := writeCSV(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "# refbench") || !strings.Contains(buf.String(), "\n# go:") {
		t.Errorf("CSV has no provenance header:\n%s", buf.String())
	}
	cr := csv.NewReader(&buf)
	cr.Comment = '#'
	rows, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rows[0], csvHeader) {
		t.Errorf("header = %q, want %q", rows[0], csvHeader)
	}
	// 3 metrics for each throughput result, 1 for killlatency, 4 for
	// killload, 2 for lifecycle and for memory.
	if got, want := len(rows)-1, 3+3+3+1+4+2+2; got != want {
		t.Fatalf("%d data rows, want %d:\n%s", got, want, buf.String())
	}
	// Cells that do not apply are empty, not 0.
	want := []string{wGetPut, iPercpuref, "2", "", "", "", "ratio_to_atomic", "4", "3.5", "4.5", "3", "5", "3", "0.002"}
	if !reflect.DeepEqual(rows[3], want) {
		t.Errorf("row 3 = %q, want %q", rows[3], want)
	}
	want = []string{wGetPut, iAtomic, "2", "", "", "", "ratio_to_atomic", "1", "0.5", "1.5", "0", "2", "3", ""}
	if !reflect.DeepEqual(rows[6], want) {
		t.Errorf("row 6 = %q, want %q", rows[6], want)
	}
	want = []string{wKillLoad, iPercpuref, "", "slots", "", "", "p99_ns", "30000", "29999.5", "30000.5", "29999", "30001", "3", ""}
	if !reflect.DeepEqual(rows[13], want) {
		t.Errorf("row 13 = %q, want %q", rows[13], want)
	}
	if row := rows[len(rows)-2]; row[6] != "bytes_per_ref" || row[2] != "" || row[4] != "100000" || row[5] != "64" || row[7] != "600" {
		t.Errorf("memory row = %q", row)
	}
	if last := rows[len(rows)-1]; last[6] != "offheap_bytes_per_ref" || last[7] != "48" {
		t.Errorf("last row = %q", last)
	}
}

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	if err := writeTable(&buf, sampleReport()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"# go:", "# cpu:", "GOMAXPROCS=", "# fast path:", "# date:", "2026-01-02T03:04:05Z",
		"Throughput", "Kill latency", "Lifecycle", "0.10x", "Memory", "4.00x", "3.50-4.50", "0.002", "base", "576",
		"Kill latency under load", "slots", "0.02x", "5%"} {
		if !strings.Contains(out, want) {
			t.Errorf("table has no %q:\n%s", want, out)
		}
	}
	// cas is not significantly different from atomic: ~, not 0.98x.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == iCAS && (!strings.Contains(line, " ~ ") || strings.Contains(line, "0.98x")) {
			t.Errorf("cas's ratio is not significant, want ~: %q", line)
		}
	}
}
