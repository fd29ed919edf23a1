package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFrom writes a saved report again, in every format and as a chart,
// measuring nothing: exactly what the run itself would have written.
func TestFrom(t *testing.T) {
	dir := t.TempDir()
	r := throughputReport([]int{1, 2, 4}, 6)
	var saved bytes.Buffer
	if err := writeJSON(&saved, r); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "run.json")
	if err := os.WriteFile(path, saved.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format string
		write  func(*bytes.Buffer, *Report) error
	}{
		{fTable, func(b *bytes.Buffer, r *Report) error { return writeTable(b, r) }},
		{fCSV, func(b *bytes.Buffer, r *Report) error { return writeCSV(b, r) }},
		{fBench, func(b *bytes.Buffer, r *Report) error { return writeBench(b, r) }},
		{fJSON, func(b *bytes.Buffer, r *Report) error { return writeJSON(b, r) }},
	} {
		var want, stdout, stderr bytes.Buffer
		if err := tc.write(&want, r); err != nil {
			t.Fatal(err)
		}
		chart := filepath.Join(dir, tc.format+".svg")
		// -duration 1h: were anything measured, the test would not end.
		if code := run([]string{"-from", path, "-format", tc.format, "-plot", chart, "-duration", "1h"}, &stdout, &stderr); code != 0 {
			t.Fatalf("-from -format %s: exit %d, %s", tc.format, code, stderr.String())
		}
		if stdout.String() != want.String() {
			t.Errorf("-from -format %s wrote\n%s\nwant\n%s", tc.format, stdout.String(), want.String())
		}
		if _, err := os.Stat(chart); err != nil {
			t.Errorf("-from -plot: %v", err)
		}
	}

	old := filepath.Join(dir, "old.json")
	if err := os.WriteFile(old, []byte(strings.Replace(saved.String(), `"schema_version": 2`, `"schema_version": 1`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ path, msg string }{
		{old, "schema_version 1"},
		{filepath.Join(dir, "none.json"), "invalid -from"},
		{filepath.Join(dir, "p.svg"), "not refbench's JSON"},
	} {
		if bad.path == filepath.Join(dir, "p.svg") {
			os.WriteFile(bad.path, []byte("<svg/>"), 0o644)
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-from", bad.path}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), bad.msg) {
			t.Errorf("-from %s: exit %d, stderr %q; want 2 and %q", filepath.Base(bad.path), code, stderr.String(), bad.msg)
		}
	}
}
