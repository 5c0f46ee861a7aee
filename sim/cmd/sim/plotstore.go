package main

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/coop-network/coop/sim"
)

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 255},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 255},
	color.RGBA{G: 0x80, A: 255},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 255},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 255},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 255},
	color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 255},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 255},
}

// plotBalance draws every node's fill ratio against its pledge at each
// snapshot, and the distribution of fill ratios (sorted, against the
// fraction of nodes), to path (PNG).
func plotBalance(b *sim.BalanceResult, path string) error {
	scatter := plot.New()
	scatter.Title.Text = fmt.Sprintf("Fill per node against its pledge (N = %d)", b.Nodes)
	scatter.X.Label.Text = "pledge, log2 GiB"
	scatter.Y.Label.Text = "held ÷ pledge"
	cdf := plot.New()
	cdf.Title.Text = "Distribution of the nodes' fill"
	cdf.X.Label.Text = "fraction of nodes"
	cdf.Y.Label.Text = "held ÷ pledge (sorted)"
	for i, s := range b.Snapshots {
		c := palette[i%len(palette)]
		name := fmt.Sprintf("%.0f %% of all pledges stored", 100*s.Target)
		xys := make(plotter.XYs, len(s.Nodes))
		fills := make([]float64, len(s.Nodes))
		for j, n := range s.Nodes {
			xys[j] = plotter.XY{X: math.Log2(float64(n.Pledge) / sim.GiB), Y: n.Fill()}
			fills[j] = n.Fill()
		}
		sc, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = c
		sc.GlyphStyle.Radius = vg.Points(1.2)
		scatter.Add(sc)
		scatter.Legend.Add(name, sc)
		slices.Sort(fills)
		line := make(plotter.XYs, len(fills))
		for j, f := range fills {
			line[j] = plotter.XY{X: float64(j+1) / float64(len(fills)), Y: f}
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return err
		}
		l.Color = c
		cdf.Add(l)
		cdf.Legend.Add(name, l)
	}
	for _, p := range []*plot.Plot{scatter, cdf} {
		p.Legend.Top = true
		p.Legend.Left = true
		p.Y.Min, p.Y.Max = 0, 1
		p.Add(plotter.NewGrid())
	}
	return twoPanels(scatter, cdf, path)
}

// plotChurn draws the repair traffic per epoch (relative to the bytes
// stored) and the files lost so far, one line per churn run, to path.
func plotChurn(runs []*sim.ChurnResult, path string) error {
	traffic := plot.New()
	traffic.Title.Text = "Repair traffic per epoch"
	traffic.X.Label.Text = "epoch"
	traffic.Y.Label.Text = "bytes fetched + pushed, % of stored"
	lost := plot.New()
	lost.Title.Text = "Files lost"
	lost.X.Label.Text = "epoch"
	lost.Y.Label.Text = "% of the files stored"
	for i, r := range runs {
		c := palette[i%len(palette)]
		var t, l plotter.XYs
		for _, e := range r.Epochs {
			t = append(t, plotter.XY{X: float64(e.Epoch), Y: 100 * e.Traffic()})
			l = append(l, plotter.XY{X: float64(e.Epoch), Y: 100 * float64(e.LostFiles) / float64(r.Files)})
		}
		name := churnName(r)
		if err := addLine(traffic, name, t, c, false); err != nil {
			return err
		}
		if err := addLine(lost, name, l, c, false); err != nil {
			return err
		}
	}
	for _, p := range []*plot.Plot{traffic, lost} {
		p.Legend.Top = true
		p.Legend.Left = true
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
	}
	return twoPanels(traffic, lost, path)
}

// churnName names a churn run in legends and tables.
func churnName(r *sim.ChurnResult) string {
	s := fmt.Sprintf("%g %% churn", 100*r.Rate)
	if r.RepairAfterMissed != 3 {
		s += fmt.Sprintf(", repair after %d", r.RepairAfterMissed)
	}
	if r.Uniform {
		s += ", equal pledges"
	}
	return s
}

func twoPanels(a, b *plot.Plot, path string) error {
	const w, h = 14 * vg.Centimeter, 10 * vg.Centimeter
	img := vgimg.New(2*w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Centimeter}
	a.Draw(tiles.At(dc, 0, 0))
	b.Draw(tiles.At(dc, 1, 0))
	return savePNG(img, path)
}
