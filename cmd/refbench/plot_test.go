package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// throughputReport is a Report of getput for the given goroutine counts,
// n repetitions each, for percpuref, atomic and xsync.
func throughputReport(goroutines []int, n int) *Report {
	r := sampleReport()
	r.Config.Goroutines = goroutines
	r.Config.Count = n
	r.Provenance.GOMAXPROCS = 2
	r.Results = nil
	for _, g := range goroutines {
		for i, im := range []string{iPercpuref, iAtomic, iXsync} {
			all := map[key][]sample{}
			for _, im2 := range []string{iPercpuref, iAtomic, iXsync} {
				var ss []sample
				for rep := range n {
					m := float64(g) * float64(10*(3-i)+rep)
					if im2 == iAtomic {
						m = 20 + float64(rep)
					}
					ss = append(ss, sample{ops: 1000, nsPerOp: 1e3 / m, mops: m})
				}
				all[key{workload: wGetPut, impl: im2, goroutines: g}] = ss
			}
			r.Results = append(r.Results, result(key{workload: wGetPut, impl: im, goroutines: g}, all))
		}
	}
	r.Spread = spreadOf(r.Results)
	return r
}

// TestPlotOneGoroutine draws a sweep of one goroutine count, which a
// logarithmic axis cannot show, from one repetition, which gives no
// interval: the chart is drawn on a linear axis, without bars.
func TestPlotOneGoroutine(t *testing.T) {
	for _, n := range []int{1, 6} {
		path := filepath.Join(t.TempDir(), "one.png")
		if err := writePlot(path, throughputReport([]int{1}, n)); err != nil {
			t.Fatalf("%d repetitions: %v", n, err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 100 {
			t.Errorf("%d repetitions: not a PNG chart: %v", n, err)
		}
	}
}

// TestPlotOneGoroutineRun is the case that crashed after measuring
// everything: refbench -goroutines 1 -plot.
func TestPlotOneGoroutineRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p1.svg")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-goroutines", "1", "-workload", "getput", "-impl", "percpuref,atomic", "-count", "2", "-duration", "5ms", "-plot", path}, &stdout, &stderr)
	if code != 0 || stderr.Len() != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if svg, err := os.ReadFile(path); err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("no chart: %v", err)
	}
}

// TestPlotTellsTheTruth checks what a reader needs in the chart: a ratio
// panel, the mark at GOMAXPROCS, the provenance in the caption, and
// colours that tell percpuref from xsync.
func TestPlotTellsTheTruth(t *testing.T) {
	r := throughputReport([]int{1, 2, 4}, 6)
	path := filepath.Join(t.TempDir(), "chart.svg")
	if err := writePlot(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	for _, want := range []string{"getput: throughput", "getput: ratio to atomic.Int64", "GOMAXPROCS=2", r.Provenance.Version.Short(),
		r.Provenance.GoVersion, r.Provenance.FastPath, "95% confidence interval", "refbench -count 3"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart has no %q", want)
		}
	}
	if a, b := styles[iPercpuref].color, styles[iXsync].color; a == b {
		t.Errorf("percpuref and xsync share a colour")
	}
	seen := map[any]string{}
	for im, st := range styles {
		if other, ok := seen[st.color]; ok {
			t.Errorf("%s and %s share a colour", im, other)
		}
		seen[st.color] = im
	}
}

// TestPlotFailureLeavesNoFile checks that a chart that cannot be written
// leaves nothing behind.
func TestPlotFailureLeavesNoFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	if err := writePlot(filepath.Join(dir, "c.svg"), throughputReport([]int{1, 2}, 1)); err == nil {
		t.Error("writePlot into a missing directory succeeded")
	}
	r := throughputReport([]int{1}, 1)
	r.Results = nil
	path := filepath.Join(t.TempDir(), "empty.svg")
	if err := writePlot(path, r); err == nil {
		t.Error("writePlot of no throughput succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a failed chart left a file: %v", err)
	}
}
