package main

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotHops draws mean and p95 hops, and mean peers contacted on a second
// panel, against log2 N, one point series per run, to path (PNG).
func plotHops(rows []row, path string) error {
	hops := plot.New()
	hops.Title.Text = "Kademlia lookup hops (kad-dht over mocknet)"
	hops.X.Label.Text = "log2 N"
	hops.Y.Label.Text = "hops to the closest peer"
	contacted := plot.New()
	contacted.Title.Text = "Peers queried per lookup"
	contacted.X.Label.Text = "log2 N"
	contacted.Y.Label.Text = "peers contacted"

	maxRun := 0
	for _, r := range rows {
		maxRun = max(maxRun, r.Run)
	}
	colors := []color.Color{color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 255}, color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 255}, color.RGBA{G: 0x80, A: 255}}
	for run := 1; run <= maxRun; run++ {
		var mean, p95, cont plotter.XYs
		for _, r := range rows {
			if r.Run != run {
				continue
			}
			x := math.Log2(float64(r.Nodes))
			mean = append(mean, plotter.XY{X: x, Y: r.MeanHops})
			p95 = append(p95, plotter.XY{X: x, Y: float64(r.P95Hops)})
			cont = append(cont, plotter.XY{X: x, Y: r.MeanContacted})
		}
		c := colors[(run-1)%len(colors)]
		if err := addLine(hops, fmt.Sprintf("mean, run %d", run), mean, c, false); err != nil {
			return err
		}
		if err := addLine(hops, fmt.Sprintf("p95, run %d", run), p95, c, true); err != nil {
			return err
		}
		if err := addLine(contacted, fmt.Sprintf("mean, run %d", run), cont, c, false); err != nil {
			return err
		}
	}
	for _, p := range []*plot.Plot{hops, contacted} {
		p.Legend.Top = true
		p.Legend.Left = true
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
	}
	const w, h = 14 * vg.Centimeter, 10 * vg.Centimeter
	img := vgimg.New(2*w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter}
	hops.Draw(tiles.At(dc, 0, 0))
	contacted.Draw(tiles.At(dc, 1, 0))
	return savePNG(img, path)
}

func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashed bool) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color = c
	pts.Color = c
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		pts.Shape = draw.TriangleGlyph{}
	}
	p.Add(l, pts)
	p.Legend.Add(name, l, pts)
	return nil
}

// savePNG writes c to path as PNG.
func savePNG(c *vgimg.Canvas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
