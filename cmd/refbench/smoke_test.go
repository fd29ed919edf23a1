package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/percpuref/percpu/percpuref"
)

// TestMain makes the test binary a memory child when the memory workload
// runs it as one (refbench runs os.Executable(), which here is the test
// binary).
func TestMain(m *testing.M) {
	if spec, ok := os.LookupEnv(memoryChildEnv); ok {
		os.Exit(memoryChild(spec, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// smallMemory makes the memory workload measure 1 and 1000 objects (not
// 100000) for the duration of a test, to keep it short.
func smallMemory(t *testing.T) {
	saved := memoryRefs
	memoryRefs = []int{1, memoryOffHeapRefs}
	t.Cleanup(func() { memoryRefs = saved })
}

// TestSmoke runs a very short sweep of every workload and implementation
// and checks the JSON and the chart.
func TestSmoke(t *testing.T) {
	smallMemory(t)
	chart := filepath.Join(t.TempDir(), "chart.svg")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-duration", "20ms", "-goroutines", "1,2", "-count", "2", "-shards", "1,8,slots", "-json", "-plot", chart}, &stdout, &stderr)
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
		if len(x.Reps) != 2 {
			t.Errorf("%s/%s: %d repetitions, want 2", x.Workload, x.Impl, len(x.Reps))
		}
		for _, rep := range x.Reps {
			if rep.Ops < 1 || len(rep.Values) == 0 {
				t.Errorf("%s/%s: repetition %+v, want operations and values", x.Workload, x.Impl, rep)
			}
			for u, v := range rep.Values {
				if !(v > 0) && u != unitOffHeap {
					t.Errorf("%s/%s: %s %v, want positive", x.Workload, x.Impl, u, v)
				}
			}
		}
		if x.Mops != nil && (x.Goroutines < 1 || (x.Impl != iRWMutex && x.RatioToAtomic == nil)) {
			t.Errorf("%s/%s: goroutines %d, ratio %v", x.Workload, x.Impl, x.Goroutines, x.RatioToAtomic)
		}
		switch x.Workload {
		case wKillLoad:
			if x.P50 == nil || x.P99 == nil || x.RatioToAtomic == nil || x.P50.Median > x.P99.Median {
				t.Errorf("killload/%s shards=%d: p50 %v, p99 %v, ratio %v", x.Impl, x.Shards, x.P50, x.P99, x.RatioToAtomic)
			}
		case wLifecycle:
			if x.NsPerOp == nil || x.RatioToAtomic == nil {
				t.Errorf("lifecycle/%s: ns %v, ratio %v", x.Impl, x.NsPerOp, x.RatioToAtomic)
			}
		case wMemory:
			if !slices.Contains(memoryProcs, x.Procs) || (x.Impl == iPercpurefEager && x.Shards != x.Procs) {
				t.Errorf("memory/%s: procs %d, shards %d", x.Impl, x.Procs, x.Shards)
			}
			if (x.OffHeapPerRef != nil) != (x.Refs >= memoryOffHeapRefs) {
				t.Errorf("memory/%s refs=%d: off-heap %v", x.Impl, x.Refs, x.OffHeapPerRef)
			}
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
	smallMemory(t)
	chart := filepath.Join(t.TempDir(), "chart.png")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-duration", "5ms", "-goroutines", "2", "-count", "1", "-workload", "getput,memory", "-impl", "percpuref,atomic", "-csv", "-plot", chart}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if !strings.HasPrefix(l, "#") { // the provenance
			lines = append(lines, l)
		}
	}
	if lines[0] != strings.Join(csvHeader, ",") {
		t.Errorf("CSV header = %q", lines[0])
	}
	// getput: 2 impls x 3 metrics; memory: 2 sizes x 2 procs x 2 impls,
	// with off-heap for the larger size.
	if len(lines) != 1+6+4+8 {
		t.Errorf("%d CSV lines, want 19:\n%s", len(lines), stdout.String())
	}
	png, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("chart is not a PNG")
	}
}

// TestMemoryChild checks that a child measures in a fresh arena at the
// GOMAXPROCS it was given, and that this process, whose arena is not fresh,
// refuses to measure.
func TestMemoryChild(t *testing.T) {
	s, err := memoryInChild(iPercpurefEager, 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	// At least the Ref and one 8-byte slot per P.
	if s.shards != 3 || s.bytes < 48+8*3 {
		t.Errorf("child: %d cells, %v B/ref; want 3 cells and at least %d B", s.shards, s.bytes, 48+8*3)
	}
	if _, err := memoryInChild("nosuch", 1, 2); err == nil {
		t.Error("a child asked for an unknown impl succeeded")
	}
	percpuref.New(nil, percpuref.Eager()).Kill() // the arena has a chunk now, if it had none
	if _, _, _, err := bytesPerObject(iPercpurefEager, 1); err == nil || !strings.Contains(err.Error(), "not fresh") {
		t.Errorf("bytesPerObject in a used arena: err %v, want not fresh", err)
	}
}
