package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaultGoroutines(t *testing.T) {
	for procs, want := range map[int][]int{
		1: {1, 2},
		2: {1, 2, 4},
		3: {1, 2, 3, 4, 6},
		8: {1, 2, 4, 8, 16},
	} {
		if got := defaultGoroutines(procs); !slices.Equal(got, want) {
			t.Errorf("defaultGoroutines(%d) = %v, want %v", procs, got, want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	var stderr bytes.Buffer
	c, err := parseFlags([]string{"-goroutines", "4, 1,2,1", "-impl", "xsync,percpuref", "-workload", "memory,getput", "-count", "3", "-csv"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.goroutines, []int{1, 2, 4}) || !slices.Equal(c.impls, []string{iPercpuref, iXsync}) ||
		!slices.Equal(c.workloads, []string{wGetPut, wMemory}) || c.count != 3 || c.format != fCSV {
		t.Errorf("config = %+v", c)
	}
}

func TestParseShards(t *testing.T) {
	for in, want := range map[string][]int{
		"1,2,8,64,slots": {1, 2, 8, 64, slotsShards},
		"slots, 8,2,8":   {2, 8, slotsShards},
		"slots":          {slotsShards},
		"64":             {64},
	} {
		if got, err := parseShards(in); err != nil || !slices.Equal(got, want) {
			t.Errorf("parseShards(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	c, err := parseFlags(nil, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.shards, []int{1, 2, 8, 64, slotsShards}) {
		t.Errorf("default shards = %v, want WithShards 1, 2, 8, 64 and the default slots", c.shards)
	}
}

// TestBadFlagsExit2 checks that every bad flag, and every choice that
// would measure nothing or lose the chart, is an error with exit status 2,
// found before anything is measured: each case asks for an hour per
// measurement, and must return at once.
func TestBadFlagsExit2(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir", "chart.svg")
	dirNamedSVG := filepath.Join(t.TempDir(), "d.svg")
	if err := os.Mkdir(dirNamedSVG, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		msg  string // in stderr
	}{
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"-duration", "-1s"}, "-duration"},
		{[]string{"-duration", "soon"}, "invalid value"},
		{[]string{"-goroutines", ""}, "-goroutines"},
		{[]string{"-goroutines", "1,x"}, "-goroutines"},
		{[]string{"-goroutines", "0"}, "-goroutines"},
		{[]string{"-count", "0"}, "-count"},
		{[]string{"-impl", "mutex"}, `unknown impl "mutex"`},
		{[]string{"-workload", "getput,put"}, `unknown workload "put"`},
		{[]string{"-shards", "2048"}, "-shards"},
		{[]string{"-shards", "0"}, "-shards"},
		{[]string{"-shards", "8,slot"}, "or slots"},
		{[]string{"-format", "xml"}, `invalid -format "xml"`},
		{[]string{"-json", "-csv"}, "two formats"},
		{[]string{"-json", "-format", "bench"}, "two formats"},
		{[]string{"-plot", "chart.pdf"}, ".svg or .png"},
		{[]string{"-plot", missing}, "cannot write a file in"},
		{[]string{"-plot", dirNamedSVG}, "is a directory"},
		{[]string{"-plot", filepath.Join(t.TempDir(), "m.svg"), "-workload", "memory,lifecycle"}, "no throughput workload"},
		// Empty selections: nothing, or a named part of it, would run.
		{[]string{"-impl", "rwmutex", "-workload", "getput"}, "-impl rwmutex runs in none of the chosen workloads (getput): it runs in snapshot"},
		{[]string{"-impl", "atomic,rwmutex", "-workload", "getput"}, "-impl rwmutex runs in none"},
		{[]string{"-impl", "atomic", "-workload", "killlatency,getput"}, "-workload killlatency is run by none of the chosen implementations (atomic): it runs percpuref"},
		{[]string{"-nosuchflag"}, "not defined"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		args := append([]string{"-duration", "1h"}, tc.args...)
		var stdout, stderr bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- run(args, &stdout, &stderr) }()
		select {
		case code := <-done:
			if code != 2 {
				t.Errorf("run(%q) = %d, want 2", tc.args, code)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("run(%q) is measuring: the error was not found first", tc.args)
		}
		if !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("run(%q): stderr %q does not mention %q", tc.args, stderr.String(), tc.msg)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) wrote to stdout: %q", tc.args, stdout.String())
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("the plot's missing directory was created: %v", err)
	}
}

// TestSelectionWithAll checks that all leaves out, silently, what does not
// apply, where a named choice would be an error.
func TestSelectionWithAll(t *testing.T) {
	c, err := parseFlags([]string{"-impl", "rwmutex"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range plan(c) {
		if task.key.workload != wSnapshot {
			t.Errorf("-impl rwmutex plans %v", task.key)
		}
	}
	if _, err := parseFlags([]string{"-workload", "killlatency"}, new(bytes.Buffer)); err != nil {
		t.Errorf("-workload killlatency with every impl: %v", err)
	}
}

func TestFormatShorthands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, fTable},
		{[]string{"-json"}, fJSON},
		{[]string{"-csv"}, fCSV},
		{[]string{"-format", "bench"}, fBench},
		{[]string{"-format", "json", "-json"}, fJSON},
	} {
		c, err := parseFlags(tc.args, new(bytes.Buffer))
		if err != nil || c.format != tc.want {
			t.Errorf("parseFlags(%q): format %v, %v; want %s", tc.args, c, err, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("run(-h) = %d, want 0", code)
	}
	help := stderr.String()
	// Each flag's default is said once, by the flag package.
	for _, line := range strings.Split(help, "\n") {
		if strings.Contains(line, "(default ") && strings.Count(line, "default") != 1 {
			t.Errorf("-h gives a default twice: %q", line)
		}
	}
	for _, want := range append([]string{"-duration", "-goroutines", "-impl", "-workload", "-count", "-format", "-json", "-csv", "-plot", "-shards", "purego",
		"benchstat old.txt new.txt", "10% difference", "~"},
		append(allImpls, allWorkloads...)...) {
		if !strings.Contains(help, want) {
			t.Errorf("-h does not explain %q", want)
		}
	}
}

func TestPlanHonoursFilters(t *testing.T) {
	c, err := parseFlags([]string{"-impl", "rwmutex", "-goroutines", "1,3"}, new(bytes.Buffer))
	if err != nil {
		t.Fatal(err)
	}
	ts := plan(c)
	if len(ts) != 2 {
		t.Fatalf("plan for rwmutex has %d tasks, want 2 (snapshot at 1 and 3 goroutines)", len(ts))
	}
	for _, task := range ts {
		if task.key.workload != wSnapshot || task.key.impl != iRWMutex {
			t.Errorf("unexpected task %v", task.key)
		}
	}
}
