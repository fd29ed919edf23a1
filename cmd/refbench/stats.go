package main

import (
	"math"
	"slices"
)

// A Summary describes the samples of one measurement over its repetitions.
type Summary struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Q1     float64 `json:"q1"` // first quartile
	Q3     float64 `json:"q3"` // third quartile
	N      int     `json:"n"`  // number of samples
}

// summarize returns the Summary of xs; xs is not modified. The quartiles
// interpolate linearly between order statistics (as R's type 7 and
// numpy's default do), so the median of an even count is the mean of the
// two middle samples. An empty xs gives NaNs and N 0.
func summarize(xs []float64) Summary {
	if len(xs) == 0 {
		nan := math.NaN()
		return Summary{nan, nan, nan, nan, nan, 0}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Summary{
		Median: quantile(s, 0.5),
		Min:    s[0],
		Max:    s[len(s)-1],
		Q1:     quantile(s, 0.25),
		Q3:     quantile(s, 0.75),
		N:      len(s),
	}
}

// quantile returns the q-quantile of sorted, a non-empty sorted slice.
func quantile(sorted []float64, q float64) float64 {
	h := q * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (h-float64(lo))*(sorted[hi]-sorted[lo])
}

// IQR returns the interquartile range, Q3 - Q1.
func (s Summary) IQR() float64 { return s.Q3 - s.Q1 }
