package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSmoke runs a very short sweep of every workload and implementation
// and checks the JSON and the chart.
func TestSmoke(t *testing.T) {
	chart := filepath.Join(t.TempDir(), "chart.svg")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-duration", "20ms", "-goroutines", "1,2", "-count", "2", "-shards", "1,8", "-json", "-plot", chart}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr is not a terminal, yet something was written: %q", stderr.String())
	}
	var r Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, stdout.String())
	}
	if r.Provenance.FastPath == "" || r.Provenance.GoVersion == "" || r.Provenance.GOMAXPROCS < 1 {
		t.Errorf("provenance incomplete: %+v", r.Provenance)
	}
	impls, workloads := map[string]bool{}, map[string]bool{}
	for _, x := range r.Results {
		impls[x.Impl] = true
		workloads[x.Workload] = true
		if len(x.Samples) != 2 {
			t.Errorf("%s/%s: %d samples, want 2", x.Workload, x.Impl, len(x.Samples))
		}
		for _, s := range x.Samples {
			if !(s > 0) {
				t.Errorf("%s/%s: sample %v, want positive", x.Workload, x.Impl, s)
			}
		}
		if x.Mops != nil && (x.Goroutines < 1 || (x.Impl != iRWMutex && x.RatioToAtomic == nil)) {
			t.Errorf("%s/%s: goroutines %d, ratio %v", x.Workload, x.Impl, x.Goroutines, x.RatioToAtomic)
		}
	}
	for _, im := range allImpls {
		if !impls[im] {
			t.Errorf("no result for implementation %s", im)
		}
	}
	for _, w := range allWorkloads {
		if !workloads[w] {
			t.Errorf("no result for workload %s", w)
		}
	}
	svg, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("snapshot")) {
		t.Errorf("chart is not an SVG with a snapshot panel (%d bytes)", len(svg))
	}
}

func TestSmokeCSVAndPNG(t *testing.T) {
	chart := filepath.Join(t.TempDir(), "chart.png")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-duration", "5ms", "-goroutines", "2", "-count", "1", "-workload", "getput,memory", "-impl", "percpuref,atomic", "-csv", "-plot", chart}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if lines[0] != strings.Join(csvHeader, ",") {
		t.Errorf("CSV header = %q", lines[0])
	}
	// getput: 2 impls x 3 metrics; memory: 2 sizes x 2 impls.
	if len(lines) != 1+6+4 {
		t.Errorf("%d CSV lines, want 11:\n%s", len(lines), stdout.String())
	}
	png, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("chart is not a PNG")
	}
}

func TestPlotNeedsThroughput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-workload", "memory", "-impl", "atomic", "-count", "1", "-plot", filepath.Join(t.TempDir(), "x.svg")}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "no throughput") {
		t.Errorf("exit %d, stderr %q; want 1 and a message", code, stderr.String())
	}
	if !slices.Contains(strings.Fields(stdout.String()), "atomic") {
		t.Errorf("the table should still be written:\n%s", stdout.String())
	}
}
