package main

import (
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// A panel is one throughput workload: a series per implementation.
type panel struct {
	workload string
	series   []series
}

// series is one implementation's points in one panel.
type series struct {
	impl string
	pts  []Result // one per goroutine count, ascending
}

// panelsOf gathers the throughput results of r by workload and then by
// implementation, in report order.
func panelsOf(r *Report) []panel {
	var ps []panel
	for _, x := range r.Results {
		if x.Mops == nil {
			continue
		}
		if len(ps) == 0 || ps[len(ps)-1].workload != x.Workload {
			ps = append(ps, panel{workload: x.Workload})
		}
		p := &ps[len(ps)-1]
		i := slices.IndexFunc(p.series, func(s series) bool { return s.impl == x.Impl })
		if i < 0 {
			p.series = append(p.series, series{impl: x.Impl})
			i = len(p.series) - 1
		}
		p.series[i].pts = append(p.series[i].pts, x)
	}
	for _, p := range ps {
		for _, s := range p.series {
			slices.SortFunc(s.pts, func(a, b Result) int { return a.Goroutines - b.Goroutines })
		}
	}
	return ps
}

// xy is a set of points with optional error bars, for gonum's plotters.
type xy struct {
	x, y, lo, hi []float64
	labels       []string
}

func (p *xy) add(x, y float64, ci *Interval) {
	lo, hi := y, y
	if ci != nil {
		lo, hi = ci.Lo, ci.Hi
	}
	p.x, p.y, p.lo, p.hi = append(p.x, x), append(p.y, y), append(p.lo, lo), append(p.hi, hi)
}

// Len, XY, YError and Label make an xy the data of gonum's lines,
// scatters, error bars and labels.
func (p *xy) Len() int                        { return len(p.x) }
func (p *xy) XY(i int) (float64, float64)     { return p.x[i], p.y[i] }
func (p *xy) YError(i int) (float64, float64) { return p.y[i] - p.lo[i], p.hi[i] - p.y[i] }
func (p *xy) Label(i int) string              { return p.labels[i] }

// xAxis sets the goroutine axis of p: logarithmic over the sweep, with a
// tick at each count measured; linear around the one count where there is
// only one (a logarithmic axis needs a range), a band beyond GOMAXPROCS,
// where goroutines share CPUs, and a line at GOMAXPROCS; bottom and top
// are the Y range to shade.
func xAxis(p *plot.Plot, goroutines []int, procs int, bottom, top float64) error {
	lo, hi := float64(goroutines[0]), float64(goroutines[len(goroutines)-1])
	if lo == hi {
		p.X.Min, p.X.Max = lo-1, hi+1
		p.X.Label.Text = "goroutines"
	} else {
		p.X.Scale = plot.LogScale{}
		p.X.Min, p.X.Max = lo/1.3, hi*1.3
		p.X.Label.Text = "goroutines (log scale)"
	}
	var ticks []plot.Tick
	for _, g := range goroutines {
		ticks = append(ticks, plot.Tick{Value: float64(g), Label: strconv.Itoa(g)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	at := float64(procs)
	if at >= p.X.Max || at < p.X.Min {
		return nil
	}
	band, err := plotter.NewPolygon(plotter.XYs{{X: at, Y: bottom}, {X: p.X.Max, Y: bottom}, {X: p.X.Max, Y: top}, {X: at, Y: top}})
	if err != nil {
		return err
	}
	band.Color = oversubscribed
	band.LineStyle.Width = 0
	mark, err := plotter.NewLine(plotter.XYs{{X: at, Y: bottom}, {X: at, Y: top}})
	if err != nil {
		return err
	}
	mark.Color = rgb(0x55, 0x55, 0x55)
	mark.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	label, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: at, Y: top}}, Labels: []string{" GOMAXPROCS=" + strconv.Itoa(procs) + ": CPUs shared beyond"}})
	if err != nil {
		return err
	}
	label.TextStyle[0].Font.Size = vg.Points(7)
	label.TextStyle[0].YAlign = draw.YTop
	label.TextStyle[0].Color = rgb(0x55, 0x55, 0x55)
	p.Add(band, mark, label)
	return nil
}

// throughputPanel draws the throughput of each implementation against the
// goroutine count, with the confidence interval of each median.
func throughputPanel(pn panel, goroutines []int, procs int) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.workload + ": throughput"
	p.Y.Label.Text = "Mops/s (aggregate)"
	top := 0.0
	for _, s := range pn.series {
		for _, x := range s.pts {
			top = max(top, x.Mops.Median)
			if x.Mops.CI != nil && !math.IsInf(x.Mops.CI.Hi, 0) {
				top = max(top, x.Mops.CI.Hi)
			}
		}
	}
	if !(top > 0) {
		top = 1
	}
	p.Y.Min, p.Y.Max = 0, top*1.12
	p.Y.Tick.Marker = niceTicks{}
	if err := xAxis(p, goroutines, procs, 0, p.Y.Max); err != nil {
		return nil, err
	}
	grid := plotter.NewGrid()
	grid.Vertical.Color, grid.Horizontal.Color = gridColor, gridColor
	p.Add(grid)
	for _, s := range pn.series {
		var pts xy
		for _, x := range s.pts {
			pts.add(float64(x.Goroutines), x.Mops.Median, x.Mops.CI)
		}
		st := styles[s.impl]
		line, marks, err := plotter.NewLinePoints(&pts)
		if err != nil {
			return nil, err
		}
		line.Color, line.Width, line.Dashes = st.color, vg.Points(1.4), st.dashes
		marks.Color, marks.Shape, marks.Radius = st.color, st.glyph, vg.Points(3)
		bars, err := plotter.NewYErrorBars(&pts)
		if err != nil {
			return nil, err
		}
		bars.Color = st.color
		p.Add(line, marks, bars)
	}
	return p, nil
}

// ratioPanel draws each implementation's throughput ratio to atomic with
// its confidence interval, on a logarithmic axis with a line at 1; a
// ratio not significantly different from 1 is labelled ~. It returns nil
// where atomic is the only implementation.
func ratioPanel(pn panel, goroutines []int, procs int) (*plot.Plot, error) {
	if !slices.ContainsFunc(pn.series, func(s series) bool { return s.impl != iAtomic }) {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = pn.workload + ": ratio to atomic.Int64"
	p.Title.TextStyle.Font.Size = vg.Points(10)
	p.Y.Label.Text = "x atomic (log scale)"
	lo, hi := 1.0, 1.0
	var shown []series // all but atomic, whose ratio is 1
	for _, s := range pn.series {
		if s.impl == iAtomic {
			continue
		}
		for _, x := range s.pts {
			if r := x.RatioToAtomic; r != nil && r.Median > 0 {
				lo, hi = min(lo, r.Median), max(hi, r.Median)
				if r.CI != nil && r.CI.Lo > 0 && !math.IsInf(r.CI.Hi, 0) {
					lo, hi = min(lo, r.CI.Lo), max(hi, r.CI.Hi)
				}
			}
		}
		shown = append(shown, s)
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Min, p.Y.Max = lo/1.4, hi*1.4
	var ticks []plot.Tick
	for e := math.Floor(math.Log2(p.Y.Min)); e <= math.Ceil(math.Log2(p.Y.Max)); e++ {
		v := math.Exp2(e)
		if v >= p.Y.Min && v <= p.Y.Max {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', -1, 64) + "x"})
		}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	if err := xAxis(p, goroutines, procs, p.Y.Min, p.Y.Max); err != nil {
		return nil, err
	}
	one, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: 1}, {X: p.X.Max, Y: 1}})
	if err != nil {
		return nil, err
	}
	one.Color, one.Width = styles[iAtomic].color, vg.Points(1)
	p.Add(one)
	for _, s := range shown {
		var pts xy
		for _, x := range s.pts {
			r := x.RatioToAtomic
			if r == nil || !(r.Median > 0) {
				continue
			}
			ci := r.CI
			if ci != nil && !(ci.Lo > 0 && !math.IsInf(ci.Hi, 0)) {
				ci = nil
			}
			pts.add(float64(x.Goroutines), r.Median, ci)
			label := ""
			if x.VsAtomic != nil && !x.VsAtomic.Significant {
				label = "~"
			}
			pts.labels = append(pts.labels, label)
		}
		if pts.Len() == 0 {
			continue
		}
		st := styles[s.impl]
		line, marks, err := plotter.NewLinePoints(&pts)
		if err != nil {
			return nil, err
		}
		line.Color, line.Width, line.Dashes = st.color, vg.Points(1.2), st.dashes
		marks.Color, marks.Shape, marks.Radius = st.color, st.glyph, vg.Points(3)
		bars, err := plotter.NewYErrorBars(&pts)
		if err != nil {
			return nil, err
		}
		bars.Color = st.color
		tilde, err := plotter.NewLabels(&pts)
		if err != nil {
			return nil, err
		}
		for i := range tilde.TextStyle {
			tilde.TextStyle[i].Color = st.color
			tilde.TextStyle[i].Font.Size = vg.Points(11)
		}
		tilde.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(1)}
		p.Add(line, marks, bars, tilde)
	}
	return p, nil
}

// niceTicks marks a linear axis from 0 at steps of 1, 2 or 5 times a
// power of ten, four to eight of them, labelled without needless digits.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return plot.DefaultTicks{}.Ticks(lo, hi)
	}
	step := math.Pow(10, math.Floor(math.Log10((hi-lo)/4)))
	for _, m := range []float64{1, 2, 5, 10} {
		if (hi-lo)/(m*step) <= 8 {
			step *= m
			break
		}
	}
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 4, 64)})
	}
	return ts
}
