package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

// TestBenchRoundTrip writes a report in the bench format and reads it back
// with benchfmt's reader, as benchstat does: every line must parse, carry
// the provenance keys, name its point in keys, and give back every
// repetition's values exactly.
func TestBenchRoundTrip(t *testing.T) {
	r := sampleReport()
	r.Provenance.FastPathWhy = "purego build"
	r.Provenance.Build = []string{"-tags=purego", "GOAMD64=v1"}
	r.Provenance.Host = &Host{ProbeBefore: 1.3, ProbeAfter: 1.4}
	r.Results[0].Reps = []Rep{
		{Ops: 1000, Values: map[string]float64{unitNsPerOp: 9.123456789, unitOpsPerS: 2.19e8}},
		{Ops: 1001, Values: map[string]float64{unitNsPerOp: 10, unitOpsPerS: 2e8}},
		{Ops: 1002, Values: map[string]float64{unitNsPerOp: 11, unitOpsPerS: 1.8e8}},
	}
	r.Results[4].Reps[2].Values = map[string]float64{unitNsPerOp: 3001, unitP50: 2500, unitP99: 30000}
	var buf bytes.Buffer
	if err := writeBench(&buf, r); err != nil {
		t.Fatal(err)
	}
	text := buf.String()

	wantConfig := map[string]string{
		"goos": r.Provenance.GOOS, "goarch": r.Provenance.GOARCH, "pkg": benchPkg, "cpu": r.Provenance.CPU,
		"go": r.Provenance.GoVersion, "commit": r.Provenance.Version.Short(), "fastpath": r.Provenance.FastPath,
		"fastpath-reason": "purego build", "tags": "purego",
	}
	type seen struct {
		name string
		rep  int
	}
	got := map[seen]*benchfmt.Result{}
	count := map[string]int{}
	var order []string
	better := map[string]string{}
	rd := benchfmt.NewReader(strings.NewReader(text), "run.txt")
	for rd.Scan() {
		switch rec := rd.Result().(type) {
		case *benchfmt.SyntaxError:
			t.Errorf("%v", rec)
		case *benchfmt.UnitMetadata:
			better[rec.OrigUnit] = rec.Value
		case *benchfmt.Result:
			for k, v := range wantConfig {
				if g := rec.GetConfig(k); g != v {
					t.Errorf("%s: config %s = %q, want %q", rec.Name, k, g, v)
				}
			}
			for _, k := range []string{"date", "host", "version"} {
				if rec.GetConfig(k) != "" {
					t.Errorf("%s: config key %s varies from run to run: it belongs in a comment", rec.Name, k)
				}
			}
			name := rec.Name.String()
			got[seen{name, count[name]}] = rec.Clone()
			count[name]++
			if count[name] == 1 {
				order = append(order, name)
			}
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if better[unitOpsPerS] != "higher" || better[unitNsPerOp] != "lower" {
		t.Errorf("unit metadata: %v", better)
	}
	for _, want := range []string{"# date:", "# host:", "# version:"} {
		if !strings.Contains(text, want) {
			t.Errorf("no comment line %q", want)
		}
	}

	// Every repetition of every result is there, once, with its name's
	// keys and its values.
	procs := r.Provenance.GOMAXPROCS
	wantNames := map[string]bool{}
	for _, x := range r.Results {
		var keys string
		switch x.Workload {
		case wKillLatency, wKillLoad:
			keys = "/shards=" + shardsName(x.Shards)
		case wMemory:
			keys = fmt.Sprintf("/refs=%d", x.Refs)
		case wLifecycle:
		default:
			keys = fmt.Sprintf("/goroutines=%d", x.Goroutines)
		}
		p := procs
		if x.Workload == wMemory {
			p = x.Procs
		}
		name := fmt.Sprintf("Refbench/workload=%s/impl=%s%s-%d", x.Workload, x.Impl, keys, p)
		wantNames[name] = true
		if count[name] != len(x.Reps) {
			t.Errorf("%s: %d lines, want one per repetition (%d)", name, count[name], len(x.Reps))
		}
		for i, rep := range x.Reps {
			res := got[seen{name, i}]
			if res == nil {
				continue
			}
			base, parts := res.Name.Parts()
			if string(base) != "Refbench" || string(parts[0]) != "/workload="+x.Workload || string(parts[1]) != "/impl="+x.Impl ||
				string(parts[len(parts)-1]) != fmt.Sprintf("-%d", p) {
				t.Errorf("%s: parts %q %q", name, base, parts)
			}
			if int64(res.Iters) != rep.Ops {
				t.Errorf("%s #%d: iterations %d, want %d", name, i, res.Iters, rep.Ops)
			}
			if len(res.Values) != len(rep.Values) {
				t.Errorf("%s #%d: %d values, want %d", name, i, len(res.Values), len(rep.Values))
			}
			for _, v := range res.Values {
				// The reader converts ns to sec, and keeps what it read
				// in OrigValue and OrigUnit; other units it leaves alone.
				unit, value := v.OrigUnit, v.OrigValue
				if unit == "" {
					unit, value = v.Unit, v.Value
				}
				if want, ok := rep.Values[unit]; !ok || value != want {
					t.Errorf("%s #%d: %v %s, want %v", name, i, value, unit, want)
				}
			}
		}
	}
	if len(count) != len(wantNames) {
		t.Errorf("%d names, want %d:\n%s", len(count), len(wantNames), text)
	}
	// atomic comes first among the implementations of a point, so that it
	// is benchstat -col /impl's base.
	if !strings.Contains(order[0], "impl=atomic") || !strings.Contains(order[1], "impl=percpuref") {
		t.Errorf("first names %q, want atomic's first", order[:2])
	}
}

// TestBenchWriteError checks that a failing stdout is reported.
func TestBenchWriteError(t *testing.T) {
	if err := writeBench(failWriter{}, sampleReport()); err == nil {
		t.Error("writeBench to a failing writer succeeded")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

var _ io.Writer = failWriter{}
