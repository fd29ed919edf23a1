package main

import (
	"math"
	"slices"

	"golang.org/x/perf/benchmath"
)

// confidence is the level of every confidence interval refbench reports,
// and 1-confidence the significance level of its tests, as in benchstat.
const confidence = 0.95

// A Summary describes one metric of one point over its repetitions: the
// median with its confidence interval, computed by benchmath as benchstat
// computes them (AssumeNothing: no distribution is assumed; the interval
// is bounded by the order statistics around the median), and the extremes.
type Summary struct {
	Median float64 `json:"median"`
	// CI is the confidence interval of the median, absent where there are
	// too few repetitions for one (fewer than 6 at 95%).
	CI  *Interval `json:"ci,omitempty"`
	Min float64   `json:"min"`
	Max float64   `json:"max"`
	N   int       `json:"n"` // number of repetitions
}

// An Interval is a confidence interval.
type Interval struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Confidence float64 `json:"confidence"` // actual level, at least the one asked for
}

// summarize returns the Summary of xs; xs is not modified. An empty xs
// gives NaNs and N 0.
func summarize(xs []float64) Summary {
	if len(xs) == 0 {
		nan := math.NaN()
		return Summary{Median: nan, Min: nan, Max: nan}
	}
	s := benchmath.NewSample(slices.Clone(xs), &benchmath.DefaultThresholds)
	bs := benchmath.AssumeNothing.Summary(s, confidence)
	sum := Summary{Median: bs.Center, Min: s.Values[0], Max: s.Values[len(s.Values)-1], N: len(xs)}
	if !math.IsInf(bs.Lo, 0) && !math.IsInf(bs.Hi, 0) {
		sum.CI = &Interval{Lo: bs.Lo, Hi: bs.Hi, Confidence: bs.Confidence}
	}
	return sum
}

// A Comparison says whether an implementation's measurements differ from
// atomic's at the same point: the p-value of benchmath's test
// (AssumeNothing: the Mann-Whitney U test, which benchstat uses too).
type Comparison struct {
	P           float64 `json:"p"`
	Alpha       float64 `json:"alpha"`
	Significant bool    `json:"significant"` // P < Alpha
	N1          int     `json:"n1"`          // this implementation's repetitions
	N2          int     `json:"n2"`          // atomic's
}

// compare tests whether xs and base come from the same distribution.
func compare(xs, base []float64) *Comparison {
	t := &benchmath.DefaultThresholds
	c := benchmath.AssumeNothing.Compare(benchmath.NewSample(slices.Clone(xs), t), benchmath.NewSample(slices.Clone(base), t))
	return &Comparison{P: c.P, Alpha: c.Alpha, Significant: c.P < c.Alpha, N1: c.N1, N2: c.N2}
}
