package main

import (
	"fmt"
	"math"
	"slices"
)

// A Spread is how much the measurements of a run moved from one
// repetition to the next, and what that lets the run resolve: a reader's
// first question about any of its ratios.
type Spread struct {
	// MedianCV is the median, over the run's throughput points, of the
	// coefficient of variation (standard deviation over mean) of the
	// throughput's repetitions.
	MedianCV float64 `json:"median_cv"`
	Points   int     `json:"points"` // how many points MedianCV is over
	// Detectable is the difference between two implementations (as a
	// fraction: 0.1 is 10%) that the run's test finds in 4 runs out of 5
	// at that spread and the run's repetitions.
	Detectable float64 `json:"detectable"`
}

// spreadOf measures the spread of the throughput results.
func spreadOf(results []Result) *Spread {
	var cvs []float64
	n := 0
	for _, x := range results {
		if x.Mops == nil || len(x.Reps) < 2 {
			continue
		}
		var sum, sq float64
		for _, r := range x.Reps {
			v := r.Values[unitOpsPerS]
			sum += v
			sq += v * v
		}
		k := float64(len(x.Reps))
		mean := sum / k
		if mean > 0 {
			cvs = append(cvs, math.Sqrt(max(0, sq/k-mean*mean))/mean)
			n = max(n, len(x.Reps))
		}
	}
	if len(cvs) == 0 {
		return nil
	}
	slices.Sort(cvs)
	cv := cvs[len(cvs)/2]
	return &Spread{MedianCV: cv, Points: len(cvs), Detectable: detectable(cv, n)}
}

// detectable returns the relative difference between two samples of n
// repetitions each, with log-normal noise of coefficient of variation cv,
// that a two-sided test at the 5% level finds with 80% power: the normal
// approximation, (z(0.975) + z(0.8)) sqrt(2/n) cv on the log scale,
// widened by the U test's efficiency relative to the t test (3/pi).
// TestDetectable checks it against benchmath's test by simulation, from 8
// repetitions on (below, the U test's coarse p-values find it less often).
func detectable(cv float64, n int) float64 {
	const z = 1.959964 + 0.841621
	return math.Expm1(z * math.Sqrt(2/float64(n)) * math.Sqrt(math.Pi/3) * cv)
}

// String says the spread and what it lets the run resolve, in a line.
func (s *Spread) String() string {
	return fmt.Sprintf("run-to-run spread %.0f%% (median coefficient of variation of %d throughputs): a difference of %.0f%% or more is found 4 times in 5",
		100*s.MedianCV, s.Points, 100*s.Detectable)
}
