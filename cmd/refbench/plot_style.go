package main

import (
	"image/color"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// A style is how one implementation is drawn in every panel: a colour
// from Okabe and Ito's palette (told apart by readers with the common
// kinds of colour blindness, and from one another in grey), a marker, and
// a dash pattern, so that no two implementations share any of the three.
type style struct {
	color  color.Color
	glyph  draw.GlyphDrawer
	dashes []vg.Length
}

var styles = map[string]style{
	iPercpuref:        {rgb(0x00, 0x72, 0xB2), draw.CircleGlyph{}, nil},                                                                 // blue
	iPercpurefEager:   {rgb(0x56, 0xB4, 0xE9), draw.PyramidGlyph{}, []vg.Length{vg.Points(6), vg.Points(2)}},                            // sky blue
	iPercpurefKillAll: {rgb(0xF0, 0xE4, 0x42), draw.PlusGlyph{}, []vg.Length{vg.Points(10), vg.Points(2), vg.Points(2), vg.Points(2)}},  // yellow
	iPercpurefAsync:   {rgb(0x99, 0x99, 0x99), draw.PlusGlyph{}, []vg.Length{vg.Points(3), vg.Points(3)}},                               // grey
	iPercpurefPadded:  {rgb(0x00, 0x9E, 0x73), draw.BoxGlyph{}, []vg.Length{vg.Points(2), vg.Points(2)}},                                // bluish green
	iAtomic:           {rgb(0x00, 0x00, 0x00), draw.CrossGlyph{}, nil},                                                                  // black
	iCAS:              {rgb(0xCC, 0x79, 0xA7), draw.TriangleGlyph{}, []vg.Length{vg.Points(8), vg.Points(3)}},                           // reddish purple
	iXsync:            {rgb(0xE6, 0x9F, 0x00), draw.SquareGlyph{}, []vg.Length{vg.Points(4), vg.Points(2), vg.Points(1), vg.Points(2)}}, // orange
	iRWMutex:          {rgb(0xD5, 0x5E, 0x00), draw.RingGlyph{}, []vg.Length{vg.Points(1), vg.Points(2)}},                               // vermillion
}

func rgb(r, g, b uint8) color.Color { return color.RGBA{r, g, b, 0xFF} }

// Shades of the chart's furniture.
var (
	oversubscribed = color.RGBA{0xEE, 0xEE, 0xEE, 0xFF} // beyond GOMAXPROCS
	gridColor      = color.Gray{0xDD}
)
