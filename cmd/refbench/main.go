// Refbench compares percpuref.Ref with other reference counts, side by side
// in one run: atomic.Int64 Add/Add on one shared word, a compare-and-swap
// increment-unless-zero counter (the kref pattern), xsync.Counter and, for
// the read-mostly snapshot workload, atomic.Pointer with an atomic.Int64
// refcount and sync.RWMutex.
//
// It sweeps the number of goroutines (by default 1, 2, 4, ... up to twice
// GOMAXPROCS), repeats every measurement (-count) and reports, for each
// point, the median and confidence interval of the time per operation per goroutine,
// the aggregate throughput and its ratio to atomic.Int64 (among them the
// whole life of a Ref used once, on every goroutine count: churn); then the
// latency of Kill by shard count, idle and under load (mean, p50, p99), the
// cost of a whole life (New, Kill, release) against a plain atomic.Int64
// count, and the heap bytes per live Ref at GOMAXPROCS 2 and 64. Memory is measured in child processes, each fresh,
// that run this binary again (with REFBENCH_MEMORY_CHILD in their
// environment), since percpuref's slot arena keeps and reuses what it
// allocated.
//
// Usage:
//
//	refbench [-duration 80ms] [-goroutines 1,2,4] [-count 20]
//	         [-workload getput,...|all] [-impl percpuref,...|all]
//	         [-format table|json|csv|bench] [-plot chart.svg]
//	refbench -from run.json [-format ...] [-plot chart.png]
//
// The output starts with where and how it ran: the commit and module
// version, Go release and build settings, kernel, CPU model, the features
// and caches that matter, GOMAXPROCS, the date, percpu.FastPath() (the fast
// path under test) and its reason, and how busy the host looked. To
// measure the fetchadd (atomic add) path of the same binary, or the generic
// (Go-only) build:
//
//	PERCPU_FASTPATH=fetchadd go run ./cmd/refbench
//	go run -tags purego ./cmd/refbench
//
// Medians come with their 95% confidence intervals and ratios with the
// p-value of a test against atomic.Int64, both from
// golang.org/x/perf/benchmath, as benchstat computes them. -format chooses
// the table, JSON, CSV, or Go's benchmark format (one line per repetition),
// which benchstat compares across runs; -json and -csv are shorthands.
// -plot writes a chart (SVG or PNG, by the file's extension): for each
// throughput workload, throughput and the ratio to atomic.Int64 against
// goroutines. -from writes a run saved with -format json again, in any
// format and chart, measuring nothing. Every flag is checked before
// anything is measured: bad flags, or a choice that selects nothing, exit
// with status 2. While it runs, a progress line is shown on stderr if
// stderr is a terminal. Run refbench -h for every flag.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	if spec, ok := os.LookupEnv(memoryChildEnv); ok {
		os.Exit(memoryChild(spec, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is refbench with its arguments and output streams, returning the
// exit status: 0 on success (and for -h), 1 if a measurement or an output
// failed, 2 for bad flags.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "refbench: %v\nRun 'refbench -h' for usage.\n", err)
		return 2
	}
	rep := cfg.from
	if rep == nil {
		prov := collectProvenance(args, time.Now())
		host := startHost()
		rep, err = runAll(cfg, prov, newProgress(stderr))
		if err != nil {
			fmt.Fprintf(stderr, "refbench: %v\n", err)
			return 1
		}
		rep.Provenance.Host = host.finish()
	}
	switch cfg.format {
	case fJSON:
		err = writeJSON(stdout, rep)
	case fCSV:
		err = writeCSV(stdout, rep)
	case fBench:
		err = writeBench(stdout, rep)
	default:
		err = writeTable(stdout, rep)
	}
	if err != nil {
		fmt.Fprintf(stderr, "refbench: %v\n", err)
		return 1
	}
	// The chart comes after the results are written, so that a chart that
	// cannot be drawn loses nothing else.
	if cfg.plot != "" {
		if err := writePlot(cfg.plot, rep); err != nil {
			fmt.Fprintf(stderr, "refbench: warning: no chart written: %v\n", err)
			return 1
		}
	}
	return 0
}
