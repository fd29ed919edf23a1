package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
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

func TestBadFlagsExit2(t *testing.T) {
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
		{[]string{"-nosuchflag"}, "not defined"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", tc.args, code)
		}
		if !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("run(%q): stderr %q does not mention %q", tc.args, stderr.String(), tc.msg)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) wrote to stdout: %q", tc.args, stdout.String())
		}
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
	for _, want := range append([]string{"-duration", "-goroutines", "-impl", "-workload", "-count", "-format", "-json", "-csv", "-plot", "-shards", "purego"},
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
