package main

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// benchPkg is the pkg key of the bench format: the package that measured.
const benchPkg = "github.com/percpuref/percpu/cmd/refbench"

// benchUnits are the units a result line may carry, in the order they
// are written, with which way is better.
var benchUnits = []struct{ unit, better string }{
	{unitNsPerOp, "lower"},
	{unitOpsPerS, "higher"},
	{unitP50, "lower"},
	{unitP99, "lower"},
	{unitBytes, "lower"},
	{unitOffHeap, "lower"},
}

// writeBench writes r in Go's benchmark format
// (golang.org/design/14313-benchmark-format) through benchfmt's writer:
// the provenance as comment lines, then as configuration keys those parts
// of it that identify what was measured (goos, goarch, pkg, cpu, go,
// commit, fastpath, fastpath-reason, tags), then one line per repetition
// of every point, named
//
//	Refbench/workload=W/impl=I/goroutines=G-P
//
// (shards=S for killlatency and killload, refs=N for memory, none for
// lifecycle), where P is the GOMAXPROCS of the process that measured (for
// memory, the child's). The iteration count is Rep.Ops, the values are
// Rep.Values. Repetitions are written in run order and, within one, the
// points of a workload in report order with atomic first, so that
// benchstat -col /impl compares every implementation with it.
func writeBench(w io.Writer, r *Report) error {
	writeHeader(w, r)
	fmt.Fprintln(w)
	bw := benchfmt.NewWriter(w)
	for _, u := range benchUnits {
		m := &benchfmt.UnitMetadata{UnitMetadataKey: benchfmt.UnitMetadataKey{Unit: u.unit, Key: "better"}, OrigUnit: u.unit, Value: u.better}
		if err := bw.Write(m); err != nil {
			return err
		}
	}
	cfg := benchConfig(r.Provenance)
	order := benchOrder(r.Results)
	for rep := range r.Config.Count {
		for _, i := range order {
			x := r.Results[i]
			if rep >= len(x.Reps) {
				continue
			}
			res := &benchfmt.Result{Config: cfg, Name: benchfmt.Name(benchName(x, r.Provenance.GOMAXPROCS)), Iters: int(x.Reps[rep].Ops)}
			for _, u := range benchUnits {
				if v, ok := x.Reps[rep].Values[u.unit]; ok {
					res.Values = append(res.Values, benchfmt.Value{Value: v, Unit: u.unit})
				}
			}
			if err := bw.Write(res); err != nil {
				return err
			}
		}
	}
	return nil
}

// benchConfig returns the configuration keys of the bench format. Keys
// that vary from one run of a build to the next (the date, the host's
// load) are in the comment lines instead: benchstat makes a separate table
// for each distinct configuration.
func benchConfig(p Provenance) []benchfmt.Config {
	var cfg []benchfmt.Config
	add := func(k, v string) {
		if v != "" {
			cfg = append(cfg, benchfmt.Config{Key: k, Value: []byte(v), File: true})
		}
	}
	add("goos", p.GOOS)
	add("goarch", p.GOARCH)
	add("pkg", benchPkg)
	add("cpu", p.CPU)
	add("go", p.GoVersion)
	add("commit", p.Version.Short())
	add("fastpath", p.FastPath)
	add("fastpath-reason", p.FastPathWhy)
	var tags []string
	for _, b := range p.Build {
		if t, ok := strings.CutPrefix(b, "-tags="); ok {
			tags = append(tags, t)
		} else if b == "-race" {
			tags = append(tags, "race")
		}
	}
	add("tags", strings.Join(tags, ","))
	return cfg
}

// benchName is the benchmark name of x, without the Benchmark prefix.
func benchName(x Result, procs int) string {
	name := "Refbench/workload=" + x.Workload + "/impl=" + x.Impl
	switch x.Workload {
	case wKillLatency, wKillLoad:
		name += "/shards=" + shardsName(x.Shards)
	case wLifecycle:
	case wMemory:
		name += fmt.Sprintf("/refs=%d", x.Refs)
		procs = x.Procs
	default:
		name += fmt.Sprintf("/goroutines=%d", x.Goroutines)
	}
	return fmt.Sprintf("%s-%d", name, procs)
}

// benchOrder returns the indexes of results in the order the bench format
// writes them: report order, but with atomic first among the results of
// one point (those that differ only in impl, which are adjacent).
func benchOrder(results []Result) []int {
	type point struct {
		workload                        string
		goroutines, shards, refs, procs int
	}
	pointOf := func(x Result) point { return point{x.Workload, x.Goroutines, x.Shards, x.Refs, x.Procs} }
	var order []int
	for i := 0; i < len(results); {
		j := i + 1
		for j < len(results) && pointOf(results[j]) == pointOf(results[i]) {
			j++
		}
		for k := i; k < j; k++ {
			if results[k].Impl == iAtomic {
				order = append(order, k)
			}
		}
		for k := i; k < j; k++ {
			if results[k].Impl != iAtomic {
				order = append(order, k)
			}
		}
		i = j
	}
	return order
}
