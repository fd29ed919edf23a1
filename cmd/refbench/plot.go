package main

import (
	"bufio"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart geometry: one panel per throughput workload, two to a row, under
// a two-line header that carries the provenance.
const (
	panelW   = 5 * vg.Inch
	panelH   = 3.6 * vg.Inch
	headerH  = 0.65 * vg.Inch
	plotCols = 2
)

// series is one implementation's line in one panel: the median throughput
// at each goroutine count, with its min-max spread.
type series struct {
	impl string
	pts  []point
}

type point struct{ x, y, lo, hi float64 }

func (s series) Len() int                    { return len(s.pts) }
func (s series) XY(i int) (float64, float64) { return s.pts[i].x, s.pts[i].y }
func (s series) YError(i int) (float64, float64) {
	return s.pts[i].y - s.pts[i].lo, s.pts[i].hi - s.pts[i].y
}

// writePlot draws the throughput of every implementation against the
// goroutine count, one panel per workload, to path (.svg or .png).
func writePlot(path string, r *Report) error {
	panels := panelsOf(r)
	if len(panels) == 0 {
		return fmt.Errorf("plot: no throughput workload was measured")
	}
	rows := (len(panels) + plotCols - 1) / plotCols
	cols := min(plotCols, len(panels))
	w, h := panelW*vg.Length(cols), panelH*vg.Length(rows)+headerH

	var canvas vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		canvas = vgsvg.New(w, h)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(120))}
	default:
		return fmt.Errorf("plot: %s: unknown format (want .svg or .png)", path)
	}
	dc := draw.New(canvas)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	drawHeader(dc, r.Provenance, r.Config)

	grid := make([][]*plot.Plot, rows)
	for j := range grid {
		grid[j] = make([]*plot.Plot, cols)
	}
	for i, p := range panels {
		pl, err := panelPlot(p.workload, p.series, r.Config.Goroutines)
		if err != nil {
			return err
		}
		grid[i/cols][i%cols] = pl
	}
	body := draw.Crop(dc, 0, 0, 0, -headerH)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Points(16), PadY: vg.Points(16),
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}
	cs := plot.Align(grid, tiles, body)
	for j := range grid {
		for i, pl := range grid[j] {
			if pl != nil {
				pl.Draw(cs[j][i])
			}
		}
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	if _, err := canvas.WriteTo(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type panel struct {
	workload string
	series   []series
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
		p.series[i].pts = append(p.series[i].pts, point{float64(x.Goroutines), x.Mops.Median, x.Mops.Min, x.Mops.Max})
	}
	return ps
}

func panelPlot(workload string, ss []series, goroutines []int) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = workload
	p.X.Label.Text = "goroutines (log scale)"
	p.Y.Label.Text = "Mops/s"
	p.Y.Min = 0
	p.X.Scale = plot.LogScale{}
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	var ticks []plot.Tick
	for _, g := range goroutines {
		ticks = append(ticks, plot.Tick{Value: float64(g), Label: fmt.Sprint(g)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	top := 0.0
	for _, s := range ss {
		idx := slices.Index(allImpls, s.impl)
		line, pts, err := plotter.NewLinePoints(s)
		if err != nil {
			return nil, err
		}
		line.Color = plotutil.Color(idx)
		line.Width = vg.Points(1.5)
		pts.Color = plotutil.Color(idx)
		pts.Shape = plotutil.Shape(idx)
		bars, err := plotter.NewYErrorBars(s)
		if err != nil {
			return nil, err
		}
		bars.Color = plotutil.Color(idx)
		p.Add(line, pts, bars)
		p.Legend.Add(s.impl, line, pts)
		for _, pt := range s.pts {
			top = max(top, pt.hi)
		}
	}
	p.Y.Max = top * 1.35 // room for the legend above the lines
	return p, nil
}

// drawHeader writes the provenance on the top strip of the chart.
func drawHeader(dc draw.Canvas, p Provenance, c ReportConfig) {
	sty := draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, 10),
		Handler: plot.DefaultTextHandler,
		XAlign:  draw.XLeft,
		YAlign:  draw.YTop,
	}
	x := dc.Min.X + vg.Points(8)
	top := dc.Max.Y - vg.Points(6)
	lines := []string{
		fmt.Sprintf("refbench: percpuref (fast path %s), aggregate throughput", p.FastPath),
		fmt.Sprintf("%s, GOMAXPROCS=%d", p.CPU, p.GOMAXPROCS),
		fmt.Sprintf("%s %s/%s, %s; median of %d x %s, bars min-max", p.GoVersion, p.GOOS, p.GOARCH, p.Date[:min(10, len(p.Date))], c.Count, c.Duration),
	}
	for i, l := range lines {
		dc.FillText(sty, vg.Point{X: x, Y: top - vg.Length(i)*vg.Points(13)}, l)
		sty.Font = font.From(plot.DefaultFont, 9)
	}
}
