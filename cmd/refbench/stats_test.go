package main

import (
	"math"
	"slices"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Summary
	}{
		{[]float64{5}, Summary{Median: 5, Min: 5, Max: 5, Q1: 5, Q3: 5, N: 1}},
		{[]float64{3, 1, 2}, Summary{Median: 2, Min: 1, Max: 3, Q1: 1.5, Q3: 2.5, N: 3}},
		{[]float64{4, 1, 3, 2}, Summary{Median: 2.5, Min: 1, Max: 4, Q1: 1.75, Q3: 3.25, N: 4}},
		{[]float64{10, 10, 10, 10, 100}, Summary{Median: 10, Min: 10, Max: 100, Q1: 10, Q3: 10, N: 5}},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9}, Summary{Median: 5, Min: 1, Max: 9, Q1: 3, Q3: 7, N: 9}},
	} {
		in := slices.Clone(tc.in)
		got := summarize(in)
		if got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("summarize modified its input: %v, was %v", in, tc.in)
		}
		if iqr := got.IQR(); iqr != tc.want.Q3-tc.want.Q1 {
			t.Errorf("IQR of %v = %v", tc.in, iqr)
		}
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s := summarize(nil)
	if s.N != 0 || !math.IsNaN(s.Median) || !math.IsNaN(s.Min) || !math.IsNaN(s.Max) {
		t.Errorf("summarize(nil) = %+v, want NaNs and N 0", s)
	}
}

func TestResultRatioIsPairedPerRepetition(t *testing.T) {
	k := key{workload: wGetPut, impl: iPercpuref, goroutines: 2}
	base := key{workload: wGetPut, impl: iAtomic, goroutines: 2}
	all := map[key][]sample{
		k:    {{nsPerOp: 20, mops: 100}, {nsPerOp: 40, mops: 50}, {nsPerOp: 10, mops: 200}},
		base: {{nsPerOp: 40, mops: 50}, {nsPerOp: 80, mops: 25}, {nsPerOp: 20, mops: 100}},
	}
	r := result(k, all)
	if r.RatioToAtomic == nil || r.RatioToAtomic.Min != 2 || r.RatioToAtomic.Max != 2 {
		t.Fatalf("ratio = %+v, want exactly 2 in every repetition", r.RatioToAtomic)
	}
	if r.Mops.Median != 100 || r.NsPerOp.Median != 20 || !slices.Equal(r.Samples, []float64{20, 40, 10}) {
		t.Errorf("result = %+v", r)
	}
	if r := result(base, all); r.RatioToAtomic.Median != 1 {
		t.Errorf("atomic's own ratio = %v, want 1", r.RatioToAtomic.Median)
	}
	delete(all, base)
	if r := result(k, all); r.RatioToAtomic != nil {
		t.Errorf("ratio without atomic = %+v, want none", r.RatioToAtomic)
	}
}
