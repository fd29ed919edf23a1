package heapmeter

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		xs   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1}, 2},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := Median(append([]float64(nil), c.xs...)); got != c.want {
			t.Errorf("Median(%v) = %g, want %g", c.xs, got, c.want)
		}
	}
}

func TestParseReport(t *testing.T) {
	s, err := parseReport([]byte("noise\nmemory-child: 4 16 -0.5\nPASS\n"), "x", 4)
	if err != nil || s != (Sample{Heap: 16, OffHeap: -0.5}) {
		t.Errorf("parseReport = %+v, %v; want {16 -0.5}, nil", s, err)
	}
	for _, c := range []struct{ out, want string }{
		{"PASS\n", "reported nothing"},
		{"memory-child: 4 x\n", "bad line"},
		{"memory-child: 2 16 0\n", "ran at GOMAXPROCS 2, want 4"},
	} {
		_, err := parseReport([]byte(c.out), "x", 4)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.out) {
			t.Errorf("parseReport(%q): err %v, want one saying %q, with the output", c.out, err, c.want)
		}
	}
}

// testChild is the Child of TestRun, served by TestChildServe.
var testChild = Child{Test: "TestChildServe", Env: "HEAPMETER_TEST_CHILD"}

// TestChildServe is the child process of TestRun; without
// HEAPMETER_TEST_CHILD in the environment it skips.
func TestChildServe(t *testing.T) {
	if !testChild.Requested() {
		t.Skip("the child process of TestRun; runs only with " + testChild.Env + " set")
	}
	err := testChild.Serve(os.Stdout, func(impl string, keep []any) error {
		if impl != "box" {
			return fmt.Errorf("unknown impl %q", impl)
		}
		for i := range keep {
			keep[i] = new([4]int64)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRun measures in a child process at a GOMAXPROCS of its own, and sees
// the child's failure. It skips with -short: CI's -short runs under
// qemu-user, where the test binary cannot start itself again.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary again; skipped with -short, as under qemu-user")
	}
	s, err := testChild.Run("box", 1000, 3)
	if err != nil {
		t.Fatal(err)
	}
	if s.Heap < 32 {
		t.Errorf("%g heap bytes per [4]int64, want at least 32", s.Heap)
	}
	if _, err := testChild.Run("nothing", 1000, 3); err == nil || !strings.Contains(err.Error(), `unknown impl "nothing"`) {
		t.Errorf("Run of an unknown impl: err %v, want one with the child's output", err)
	}
}

func TestServeBadRequest(t *testing.T) {
	t.Setenv(testChild.Env, "box,0")
	err := testChild.Serve(os.Stdout, func(string, []any) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "want impl,refs") {
		t.Errorf("Serve of box,0: err %v, want impl,refs", err)
	}
}
