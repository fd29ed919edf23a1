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
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart geometry: for each throughput workload a throughput panel above
// a panel of the ratio to atomic, two workloads to a row, between a title
// and a caption that carries the provenance.
const (
	panelW   = 5 * vg.Inch
	panelH   = 2.7 * vg.Inch
	titleH   = 0.7 * vg.Inch
	captionH = 1.2 * vg.Inch
	plotCols = 2
)

// writePlot draws the chart of r to path (.svg or .png): written to a
// temporary file beside it and renamed, so that a chart that fails leaves
// no partial file. A panic in the plotting library is returned as an
// error.
func writePlot(path string, r *Report) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("plot: %v", p)
		}
	}()
	canvas, err := drawChart(path, r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".refbench-plot-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, there is nothing to remove
	bw := bufio.NewWriter(f)
	if _, err := canvas.WriteTo(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// drawChart draws the chart of r on a canvas of the kind path's extension
// names.
func drawChart(path string, r *Report) (vg.CanvasWriterTo, error) {
	panels := panelsOf(r)
	if len(panels) == 0 {
		return nil, fmt.Errorf("plot: no throughput workload was measured")
	}
	rows := (len(panels) + plotCols - 1) / plotCols
	cols := min(plotCols, len(panels))
	w, h := panelW*vg.Length(cols), 2*panelH*vg.Length(rows)+titleH+captionH

	var canvas vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		canvas = vgsvg.New(w, h)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))}
	default:
		return nil, fmt.Errorf("plot: %s: unknown format (want .svg or .png)", path)
	}
	dc := draw.New(canvas)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	grid := make([][]*plot.Plot, 2*rows)
	for j := range grid {
		grid[j] = make([]*plot.Plot, cols)
	}
	for i, pn := range panels {
		tp, err := throughputPanel(pn, r.Config.Goroutines, r.Provenance.GOMAXPROCS)
		if err != nil {
			return nil, err
		}
		rp, err := ratioPanel(pn, r.Config.Goroutines, r.Provenance.GOMAXPROCS)
		if err != nil {
			return nil, err
		}
		grid[2*(i/cols)][i%cols], grid[2*(i/cols)+1][i%cols] = tp, rp
	}
	body := draw.Crop(dc, 0, 0, captionH, -titleH)
	tiles := draw.Tiles{Rows: 2 * rows, Cols: cols, PadX: vg.Points(18), PadY: vg.Points(10),
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(6), PadRight: vg.Points(10)}
	cs := plot.Align(grid, tiles, body)
	for j := range grid {
		for i, pl := range grid[j] {
			if pl != nil {
				pl.Draw(cs[j][i])
			}
		}
	}
	drawText(dc, dc.Max.Y-vg.Points(8), 13, []string{
		"refbench: percpuref.Ref against atomic.Int64 and other counts, by goroutines",
	})
	drawLegend(dc, dc.Max.Y-vg.Points(36), panels)
	drawText(dc, dc.Min.Y+captionH-vg.Points(6), 8.5, caption(r))
	return canvas, nil
}

// caption is the provenance and the key to the chart, a line each.
func caption(r *Report) []string {
	p, c := r.Provenance, r.Config
	build := ""
	if len(p.Build) > 0 {
		build = " " + strings.Join(p.Build, " ")
	}
	fast := p.FastPath
	if p.FastPathWhy != "" {
		fast += " (" + p.FastPathWhy + ")"
	}
	lines := []string{
		fmt.Sprintf("%s, commit %s, %s %s/%s%s, %s", p.Date[:min(10, len(p.Date))], p.Version.Short(), p.GoVersion, p.GOOS, p.GOARCH, build, p.Kernel),
		fmt.Sprintf("%s, %d logical CPUs, GOMAXPROCS=%d; %s; fast path %s", p.CPU, p.NumCPU, p.GOMAXPROCS, strings.Join(p.Caches, ", "), fast),
	}
	if p.Host != nil {
		lines = append(lines, "host: "+p.Host.String())
	}
	if r.Spread != nil {
		lines = append(lines, r.Spread.String())
	}
	return append(lines,
		fmt.Sprintf("Median of %d repetitions of %s per point; bars: 95%% confidence interval of the median (benchmath, as benchstat); none with fewer than 6.", c.Count, c.Duration),
		"Ratio: throughput over atomic.Int64's in the same repetition; ~: no significant difference from atomic (Mann-Whitney U, p >= 0.05). Shaded: goroutines share CPUs.",
		"refbench "+strings.Join(p.Args, " "))
}

// drawText writes lines from top down, at the left margin.
func drawText(dc draw.Canvas, top vg.Length, size float64, lines []string) {
	sty := draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, vg.Points(size)),
		Handler: plot.DefaultTextHandler,
		XAlign:  draw.XLeft,
		YAlign:  draw.YTop,
	}
	for i, l := range lines {
		dc.FillText(sty, vg.Point{X: dc.Min.X + vg.Points(10), Y: top - vg.Length(i)*vg.Points(size*1.4)}, l)
	}
}

// drawLegend writes, in one row, the style of each implementation that
// appears in the chart, in report order.
func drawLegend(dc draw.Canvas, y vg.Length, panels []panel) {
	sty := draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, vg.Points(10)),
		Handler: plot.DefaultTextHandler,
		XAlign:  draw.XLeft,
		YAlign:  draw.YCenter,
	}
	x := dc.Min.X + vg.Points(10)
	for _, im := range allImpls {
		if !slices.ContainsFunc(panels, func(p panel) bool {
			return slices.ContainsFunc(p.series, func(s series) bool { return s.impl == im })
		}) {
			continue
		}
		st := styles[im]
		ls := draw.LineStyle{Color: st.color, Width: vg.Points(1.4), Dashes: st.dashes}
		dc.StrokeLine2(ls, x, y, x+vg.Points(28), y)
		dc.DrawGlyph(draw.GlyphStyle{Color: st.color, Radius: vg.Points(3), Shape: st.glyph}, vg.Point{X: x + vg.Points(14), Y: y})
		x += vg.Points(32)
		dc.FillText(sty, vg.Point{X: x, Y: y}, im)
		x += sty.Width(im) + vg.Points(16)
	}
}
