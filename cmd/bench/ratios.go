package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// record keeps one number (lower is better) for the ratio table.
func (r *report) record(metric, init string, v float64) {
	if r.vals == nil {
		r.vals = map[string]map[string]float64{}
	}
	if r.vals[metric] == nil {
		r.vals[metric] = map[string]float64{}
		r.metrics = append(r.metrics, metric)
	}
	r.vals[metric][init] = v
}

// ratio is stageinit's value over the peer's, or false when one is missing.
func (r *report) ratio(metric, peer string) (float64, bool) {
	s, okS := r.vals[metric]["stageinit"]
	p, okP := r.vals[metric][peer]
	if !okS || !okP || p <= 0 || s <= 0 {
		return 0, false
	}
	return s / p, true
}

// ratios prints stageinit's value divided by each peer's for every
// recorded metric, and writes the same as an SVG bar chart (text, so it
// diffs and needs no image or font package; GitHub renders it).
func (r *report) ratios(ps []peer, chart string) {
	if len(r.metrics) == 0 {
		return
	}
	var names []string // the peers, then the references measured in one section
	for _, p := range ps[1:] {
		names = append(names, p.name)
	}
	for _, m := range r.metrics {
		for n := range r.vals[m] {
			if n != "stageinit" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	r.printf("## Ratios to each peer\n\nstageinit's value divided by the peer's, from the tables above (lower is better in every row; 1.00 is parity).\n\n")
	r.printf("| metric | %s |\n|---|%s\n", strings.Join(names, " | "), strings.Repeat("---|", len(names)))
	for _, m := range r.metrics {
		r.printf("| %s |", m)
		for _, n := range names {
			if v, ok := r.ratio(m, n); ok {
				r.printf(" %.2f |", v)
			} else {
				r.printf(" n/a |")
			}
		}
		r.printf("\n")
	}
	if err := os.WriteFile(chart, []byte(r.svg(names)), 0o644); err != nil {
		r.printf("\n(chart not written: %v)\n\n", err)
		return
	}
	// The PNG is rendered from the SVG by rsvg-convert (librsvg2-bin).
	png := strings.TrimSuffix(chart, ".svg") + ".png"
	if o, err := exec.Command("rsvg-convert", chart, "-o", png).CombinedOutput(); err != nil {
		r.printf("\n(no PNG: rsvg-convert: %v %s)\n", err, o)
		png = chart
	}
	r.printf("\n![stageinit's ratio to each peer, log scale](%s)\n\n(chart source: [%s](%[2]s))\n\n",
		filepath.Base(png), filepath.Base(chart))
}

// svg draws one group of horizontal bars per metric, from 1 (parity) to
// the ratio, on a log scale.
func (r *report) svg(names []string) string {
	const left, width, bar, gap, top = 250.0, 520.0, 11.0, 16.0, 54.0
	colors := []string{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#9c755f"}
	hi := 2.0
	for _, m := range r.metrics {
		for _, n := range names {
			if v, ok := r.ratio(m, n); ok && v > hi {
				hi = v
			}
		}
	}
	lo, hi := 0.5, math.Pow(10, math.Ceil(math.Log10(hi)))
	x := func(v float64) float64 { return left + width*math.Log(v/lo)/math.Log(hi/lo) }
	height := top + float64(len(r.metrics))*(float64(len(names))*bar+gap) + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", left+width+60, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, n := range names {
		lx, ly := left+float64(i%4)*130, 8+float64(i/4)*14
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="10" height="10" fill="%s"/><text x="%.0f" y="%.0f">stageinit / %s</text>`+"\n",
			lx, ly, colors[i%len(colors)], lx+14, ly+9, n)
	}
	for _, t := range []float64{0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000} {
		if t > hi {
			break
		}
		stroke := "#ddd"
		if t == 1 {
			stroke = "#000"
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="%s"/><text x="%.1f" y="%.0f" text-anchor="middle">%g</text>`+"\n",
			x(t), top-8, x(t), height-22, stroke, x(t), height-8, t)
	}
	y := top
	for _, m := range r.metrics {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-8, y+float64(len(names))*bar/2+4, m)
		for i, n := range names {
			if v, ok := r.ratio(m, n); ok {
				x0, x1 := math.Min(x(1), x(v)), math.Max(x(1), x(v))
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/><text x="%.1f" y="%.1f" font-size="9">%.2f</text>`+"\n",
					x0, y, math.Max(x1-x0, 1), bar-1, colors[i%len(colors)], x1+3, y+bar-2, v)
			}
			y += bar
		}
		y += gap
	}
	b.WriteString("</svg>\n")
	return b.String()
}
