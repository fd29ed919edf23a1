package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.duration != 30*time.Second || cfg.refs != 64 || cfg.goroutines != 16 || cfg.maxProcs != 16 {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.seed == 0 {
		t.Errorf("seed 0 was not replaced by a clock seed")
	}
}

func TestParseFlagsValues(t *testing.T) {
	cfg, err := parseFlags([]string{"-duration", "1m", "-refs", "3", "-goroutines", "5", "-seed", "42", "-maxprocs", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := config{duration: time.Minute, refs: 3, goroutines: 5, seed: 42, maxProcs: 2}
	if cfg != want {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestParseFlagsRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"-duration", "0s"}, "-duration"},
		{[]string{"-duration", "-5s"}, "-duration"},
		{[]string{"-duration", "soon"}, "duration"},
		{[]string{"-refs", "0"}, "-refs"},
		{[]string{"-refs", "-1"}, "-refs"},
		{[]string{"-refs", "99999999"}, "-refs"},
		{[]string{"-goroutines", "0"}, "-goroutines"},
		{[]string{"-goroutines", "many"}, "goroutines"},
		{[]string{"-seed", "-1"}, "seed"},
		{[]string{"-maxprocs", "0"}, "-maxprocs"},
		{[]string{"-maxprocs", "5000"}, "-maxprocs"},
		{[]string{"-nosuchflag"}, "nosuchflag"},
		{[]string{"10s"}, "unexpected argument"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one that names %q", tc.args, err, tc.want)
		}
	}
}

func TestRunExitStatus(t *testing.T) {
	var out, errOut bytes.Buffer
	if got := run([]string{"-refs", "0"}, &out, &errOut); got != 2 {
		t.Errorf("bad flag: exit status %d, want 2", got)
	}
	if !strings.Contains(errOut.String(), "-refs 0: must be in 1..") || !strings.Contains(errOut.String(), "-h") {
		t.Errorf("bad flag: stderr %q lacks the reason or the -h hint", errOut.String())
	}
	errOut.Reset()
	if got := run([]string{"-h"}, &out, &errOut); got != 0 {
		t.Errorf("-h: exit status %d, want 0", got)
	}
	for _, s := range []string{"Usage: reftorture", "-duration", "-refs", "-goroutines", "-seed", "-maxprocs", "not replayable"} {
		if !strings.Contains(errOut.String(), s) {
			t.Errorf("-h output lacks %q", s)
		}
	}
	out.Reset()
	errOut.Reset()
	if got := run([]string{"-duration", "300ms", "-refs", "8", "-goroutines", "4", "-seed", "7", "-maxprocs", "4"}, &out, &errOut); got != 0 {
		t.Errorf("short run: exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", got, out.String(), errOut.String())
	}
	for _, s := range []string{"seed 7", "operations: ", "/s", "violations: 0", "PASS"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("short run: output lacks %q:\n%s", s, out.String())
		}
	}
}

// TestTortureRuns: a short run makes operations and control steps and finds
// no violation.
func TestTortureRuns(t *testing.T) {
	d := time.Second
	if testing.Short() {
		d = 300 * time.Millisecond
	}
	res := torture(config{duration: d, refs: 16, goroutines: 8, seed: 1, maxProcs: 8}, io.Discard, io.Discard)
	if res.violations != 0 {
		t.Errorf("%d violations", res.violations)
	}
	if res.ops == 0 || res.kills == 0 || res.batches == 0 || res.asyncs == 0 || res.switches == 0 {
		t.Errorf("the run did too little: %+v", res)
	}
	t.Logf("%+v", res)
}

// TestTortureDetectsInjectedFault: the checker is not blind. A worker that
// puts one reference more than it took, now and then, must be caught.
func TestTortureDetectsInjectedFault(t *testing.T) {
	var errOut bytes.Buffer
	res := torture(config{duration: 300 * time.Millisecond, refs: 4, goroutines: 4, seed: 3, maxProcs: 4, faultEvery: 500}, io.Discard, &errOut)
	if res.violations == 0 {
		t.Fatalf("an extra Put every 500 operations went unnoticed: %+v", res)
	}
	if !strings.Contains(errOut.String(), "VIOLATION") {
		t.Errorf("violations were not printed: %q", errOut.String())
	}
	var out bytes.Buffer
	res.print(&out)
	if !strings.Contains(out.String(), "FAIL") {
		t.Errorf("result print lacks FAIL: %q", out.String())
	}
}

func TestHelpIsErrHelp(t *testing.T) {
	_, err := parseFlags([]string{"-help"}, io.Discard)
	if !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-help: %v, want flag.ErrHelp", err)
	}
}
