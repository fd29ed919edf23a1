package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// This file checks, before anything is measured, that the flags ask for
// something that can be measured and written: a run is never lost to a
// mistake that could have been seen at the start.

// implsOf returns the implementations that run in workload w, in report
// order.
func implsOf(w string) []string {
	switch w {
	case wKillLatency:
		return []string{iPercpuref}
	case wKillLoad:
		return killLoadImpls
	case wLifecycle:
		return lifecycleImpls
	case wMemory:
		return memoryImpls
	}
	var out []string
	for _, im := range throughput[w] {
		out = append(out, im.impl)
	}
	return out
}

// checkSelection fails if an implementation named in -impl runs in none of
// the chosen workloads, if a workload named in -workload is run by none of
// the chosen implementations, or if nothing at all would be measured.
// Where a flag is all, what it brings that does not apply is left out
// without a word.
func checkSelection(c *config) error {
	if !c.implAll {
		for _, im := range c.impls {
			var where []string
			for _, w := range allWorkloads {
				if slices.Contains(implsOf(w), im) {
					where = append(where, w)
				}
			}
			if !slices.ContainsFunc(where, func(w string) bool { return slices.Contains(c.workloads, w) }) {
				return fmt.Errorf("-impl %s runs in none of the chosen workloads (%s): it runs in %s",
					im, strings.Join(c.workloads, ", "), strings.Join(where, ", "))
			}
		}
	}
	if !c.workloadAll {
		for _, w := range c.workloads {
			if !slices.ContainsFunc(implsOf(w), c.has) {
				return fmt.Errorf("-workload %s is run by none of the chosen implementations (%s): it runs %s",
					w, strings.Join(c.impls, ", "), strings.Join(implsOf(w), ", "))
			}
		}
	}
	if len(plan(c)) == 0 {
		return errors.New("the chosen workloads and implementations select nothing to measure")
	}
	return nil
}

// isThroughput reports whether w is a throughput workload, one that the
// chart draws.
func isThroughput(w string) bool {
	_, ok := throughput[w]
	return ok
}

// checkPlot fails if -plot names a file of an unknown kind, in a directory
// that does not exist or cannot be written, or if no throughput workload
// would be measured for it to draw.
func checkPlot(c *config) error {
	if c.plot == "" {
		return nil
	}
	switch strings.ToLower(filepath.Ext(c.plot)) {
	case ".svg", ".png":
	default:
		return fmt.Errorf("invalid -plot %q: the file name must end in .svg or .png", c.plot)
	}
	drawable := slices.ContainsFunc(plan(c), func(t task) bool { return isThroughput(t.key.workload) })
	if c.from != nil {
		drawable = slices.ContainsFunc(c.from.Results, func(x Result) bool { return x.Mops != nil })
	}
	if !drawable {
		var tp []string
		for _, w := range allWorkloads {
			if isThroughput(w) {
				tp = append(tp, w)
			}
		}
		return fmt.Errorf("-plot draws throughput against goroutines, and no throughput workload (%s) is chosen", strings.Join(tp, ", "))
	}
	if fi, err := os.Stat(c.plot); err == nil && fi.IsDir() {
		return fmt.Errorf("invalid -plot %q: it is a directory", c.plot)
	}
	dir := filepath.Dir(c.plot)
	f, err := os.CreateTemp(dir, ".refbench-plot-check-*")
	if err != nil {
		return fmt.Errorf("invalid -plot %q: cannot write a file in %q: %w", c.plot, dir, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return nil
}

// readReport reads a report that -format json wrote, and checks that its
// layout is this refbench's.
func readReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("invalid -from: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("invalid -from %q: not refbench's JSON: %v", path, err)
	}
	if r.SchemaVersion != schemaVersion {
		return nil, fmt.Errorf("invalid -from %q: schema_version %d, and this refbench reads %d", path, r.SchemaVersion, schemaVersion)
	}
	if r.Spread == nil {
		r.Spread = spreadOf(r.Results) // saved by a refbench before Spread
	}
	return &r, nil
}
