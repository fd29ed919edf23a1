package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want Summary
	}{
		// Fewer than 6 repetitions give no 95% interval of the median.
		{[]float64{5}, Summary{Median: 5, Min: 5, Max: 5, N: 1}},
		{[]float64{3, 1, 2}, Summary{Median: 2, Min: 1, Max: 3, N: 3}},
		{[]float64{4, 1, 3, 2}, Summary{Median: 2.5, Min: 1, Max: 4, N: 4}},
		// From 6 on, the interval is bounded by order statistics.
		{[]float64{6, 1, 5, 2, 4, 3}, Summary{Median: 3.5, CI: &Interval{Lo: 1, Hi: 6, Confidence: 0.96875}, Min: 1, Max: 6, N: 6}},
		{[]float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, Summary{Median: 5.5, CI: &Interval{Lo: 2, Hi: 9, Confidence: 0.978515625}, Min: 1, Max: 10, N: 10}},
	} {
		in := slices.Clone(tc.in)
		got := summarize(in)
		if got.Median != tc.want.Median || got.Min != tc.want.Min || got.Max != tc.want.Max || got.N != tc.want.N ||
			(got.CI == nil) != (tc.want.CI == nil) || (got.CI != nil && (got.CI.Lo != tc.want.CI.Lo || got.CI.Hi != tc.want.CI.Hi ||
			math.Abs(got.CI.Confidence-tc.want.CI.Confidence) > 1e-9)) {
			t.Errorf("summarize(%v) = %+v (CI %+v), want %+v (CI %+v)", tc.in, got, got.CI, tc.want, tc.want.CI)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("summarize modified its input: %v, was %v", in, tc.in)
		}
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s := summarize(nil)
	if s.N != 0 || !math.IsNaN(s.Median) || !math.IsNaN(s.Min) || !math.IsNaN(s.Max) || s.CI != nil {
		t.Errorf("summarize(nil) = %+v, want NaNs and N 0", s)
	}
}

func TestResultRatioIsPairedPerRepetition(t *testing.T) {
	k := key{workload: wGetPut, impl: iPercpuref, goroutines: 2}
	base := key{workload: wGetPut, impl: iAtomic, goroutines: 2}
	all := map[key][]sample{
		k:    {{ops: 5, nsPerOp: 20, mops: 100}, {ops: 5, nsPerOp: 40, mops: 50}, {ops: 5, nsPerOp: 10, mops: 200}},
		base: {{ops: 3, nsPerOp: 40, mops: 50}, {ops: 3, nsPerOp: 80, mops: 25}, {ops: 3, nsPerOp: 20, mops: 100}},
	}
	r := result(k, all)
	if r.RatioToAtomic == nil || r.RatioToAtomic.Min != 2 || r.RatioToAtomic.Max != 2 {
		t.Fatalf("ratio = %+v, want exactly 2 in every repetition", r.RatioToAtomic)
	}
	// Three repetitions cannot show a difference at 5% (the U test's
	// smallest p-value for 3 and 3 is 0.1), however large.
	if r.VsAtomic == nil || r.VsAtomic.Significant || r.VsAtomic.N1 != 3 {
		t.Errorf("comparison = %+v, want not significant with 3 repetitions", r.VsAtomic)
	}
	if r.Mops.Median != 100 || r.NsPerOp.Median != 20 || len(r.Reps) != 3 || r.Reps[1].Ops != 5 ||
		r.Reps[1].Values[unitNsPerOp] != 40 || r.Reps[1].Values[unitOpsPerS] != 50e6 {
		t.Errorf("result = %+v", r)
	}
	if r := result(base, all); r.RatioToAtomic.Median != 1 || r.VsAtomic != nil {
		t.Errorf("atomic's own ratio = %v, comparison %+v; want 1 and none", r.RatioToAtomic.Median, r.VsAtomic)
	}
	delete(all, base)
	if r := result(k, all); r.RatioToAtomic != nil || r.VsAtomic != nil {
		t.Errorf("ratio without atomic = %+v, want none", r.RatioToAtomic)
	}
}

func TestCompare(t *testing.T) {
	a := []float64{10, 11, 10.5, 10.2, 10.8, 10.1}
	b := []float64{20, 21, 20.5, 20.2, 20.8, 20.1}
	if c := compare(a, b); !c.Significant || c.P >= 0.05 || c.Alpha != 0.05 {
		t.Errorf("compare of disjoint samples = %+v, want significant", c)
	}
	if c := compare(a, a); c.Significant {
		t.Errorf("compare of a sample with itself = %+v, want not significant", c)
	}
}

// runNoise is the run-to-run spread of one measurement on the machine
// class refbench's defaults are chosen for, 2 vCPUs of an AMD EPYC guest:
// the coefficient of variation of a throughput over repetitions of the
// default length. The median over the throughput points of a quiet run
// there was 11% (4-7% for atomic, cas and one goroutine, 10-20% for the
// per-CPU rows from 2 goroutines on); -h says so.
const runNoise = 0.10

// TestDefaultCountDetectsTenPercent checks the claim that -h makes: with
// the default -count and the run-to-run spread of the machine class, a 10%
// difference between two implementations is found significant (by the
// same test as the table's ~) in at least 80% of runs.
func TestDefaultCountDetectsTenPercent(t *testing.T) {
	c, err := parseFlags(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const trials = 2000
	hits := 0
	for range trials {
		a, b := make([]float64, c.count), make([]float64, c.count)
		for i := range a {
			a[i] = math.Exp(runNoise * rng.NormFloat64())
			b[i] = 1.1 * math.Exp(runNoise*rng.NormFloat64())
		}
		if compare(a, b).Significant {
			hits++
		}
	}
	if power := float64(hits) / trials; power < 0.8 {
		t.Errorf("-count %d finds a 10%% difference at a spread of %.0f%% in %.0f%% of runs, want at least 80%%",
			c.count, 100*runNoise, 100*power)
	}
}

// TestDetectable checks detectable, the difference the table's header says
// a run can resolve, against the power of benchmath's test by simulation.
func TestDetectable(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tc := range []struct {
		cv float64
		n  int
	}{{0.05, 10}, {0.10, 10}, {0.30, 10}, {0.05, 8}, {0.10, 20}} {
		d := detectable(tc.cv, tc.n)
		const trials = 1000
		hits := 0
		for range trials {
			a, b := make([]float64, tc.n), make([]float64, tc.n)
			for i := range a {
				a[i] = math.Exp(tc.cv * rng.NormFloat64())
				b[i] = (1 + d) * math.Exp(tc.cv*rng.NormFloat64())
			}
			if compare(a, b).Significant {
				hits++
			}
		}
		if power := float64(hits) / trials; power < 0.72 || power > 0.9 {
			t.Errorf("cv %.2f, n %d: a difference of %.1f%% is found in %.0f%% of runs, want about 80%%", tc.cv, tc.n, 100*d, 100*power)
		}
	}
	s := spreadOf([]Result{
		{Mops: &Summary{}, Reps: []Rep{{Values: map[string]float64{unitOpsPerS: 90}}, {Values: map[string]float64{unitOpsPerS: 110}}}},
		{Mops: &Summary{}, Reps: []Rep{{Values: map[string]float64{unitOpsPerS: 100}}}}, // one repetition: no spread
		{NsPerOp: &Summary{}},
	})
	if s == nil || math.Abs(s.MedianCV-0.1) > 1e-9 || s.Points != 1 || s.Detectable != detectable(0.1, 2) {
		t.Errorf("spreadOf = %+v", s)
	}
}
