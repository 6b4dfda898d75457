package benchmarks

import (
	"fmt"
	"math"
	"strings"
)

// The chart is written by hand rather than with gonum.org/v1/plot: that
// module would add embedded fonts, a PDF writer and a LaTeX
// renderer to the hecc binary for one bar chart, and its bars cannot start
// on a logarithmic axis, which latencies from a millisecond to a minute
// need.

// stage is one bar of a model's group.
type stage struct {
	name, color string
	seconds     func(m ModelResult) float64
	detail      func(m ModelResult) string // appended to the value label
}

// chartStages in pipeline order; colours from the Okabe–Ito palette, which
// stays distinguishable under colour blindness.
var chartStages = []stage{
	{"compile", "#999999", func(m ModelResult) float64 { return m.CompileSeconds }, nil},
	{"keygen", "#E69F00", func(m ModelResult) float64 { return m.KeygenSeconds }, nil},
	{"server setup", "#CC79A7", func(m ModelResult) float64 { return m.SetupSeconds }, nil},
	{"encrypt", "#56B4E9", func(m ModelResult) float64 { return m.EncryptSeconds }, nil},
	{"eval (median)", "#D55E00", func(m ModelResult) float64 { return m.Eval.Median },
		func(m ModelResult) string { return fmt.Sprintf(" (p90 %s)", duration(m.Eval.P90)) }},
	{"decrypt", "#009E73", func(m ModelResult) float64 { return m.DecryptSeconds }, nil},
}

// Chart geometry, in pixels.
const (
	svgWidth   = 900
	labelWidth = 170 // model names, left of the plot
	valueSpace = 150 // value labels, right of the longest bar
	plotTop    = 86
	barHeight  = 12
	barGap     = 3
	groupGap   = 18
	axisSpace  = 40
)

// SVG draws each model's latency per stage as horizontal bars on a
// logarithmic time axis.
func (r *Report) SVG() []byte {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, m := range r.Models {
		for _, s := range chartStages {
			if v := s.seconds(m); v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) { // nothing measured: draw an empty 1 ms – 1 s axis
		lo, hi = 1e-3, 1
	}
	minDecade, maxDecade := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if maxDecade == minDecade {
		maxDecade++
	}
	plotWidth := float64(svgWidth - labelWidth - valueSpace - 20)
	x := func(v float64) float64 {
		return labelWidth + (math.Log10(v)-minDecade)/(maxDecade-minDecade)*plotWidth
	}
	groupHeight := len(chartStages)*(barHeight+barGap) + groupGap
	plotBottom := plotTop + len(r.Models)*groupHeight
	height := plotBottom + axisSpace

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="22" font-size="15" font-weight="bold">hecc bench: latency per stage (log scale)</text>`+"\n", labelWidth)
	p(`<text x="%d" y="40" fill="#555">%s — %s, %d samples per model</text>`+"\n",
		labelWidth, esc(r.Date.Format("2006-01-02")), esc(fmt.Sprintf("%s, %d cores", r.Machine.CPU, r.Machine.Cores)), r.Samples)
	lx := float64(labelWidth)
	for _, s := range chartStages {
		p(`<rect x="%.1f" y="52" width="11" height="11" fill="%s"/><text x="%.1f" y="62">%s</text>`+"\n", lx, s.color, lx+15, esc(s.name))
		lx += 30 + 7*float64(len(s.name))
	}

	// Decade gridlines and their labels.
	for d := minDecade; d <= maxDecade; d++ {
		gx := x(math.Pow(10, d))
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", gx, plotTop-6, gx, plotBottom)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", gx, plotBottom+16, decadeLabel(d))
	}
	p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">seconds per input (compile, keygen and server setup: once per model)</text>`+"\n",
		labelWidth+plotWidth/2, plotBottom+32)

	for i, m := range r.Models {
		top := plotTop + i*groupHeight
		p(`<text x="%d" y="%d" text-anchor="end" font-weight="bold">%s</text>`+"\n", labelWidth-10, top+barHeight, esc(m.Name))
		if m.Params.LogN > 0 {
			p(`<text x="%d" y="%d" text-anchor="end" fill="#555">logN %d, depth %d</text>`+"\n", labelWidth-10, top+2*barHeight+6, m.Params.LogN, m.Depth)
		}
		for j, s := range chartStages {
			v := s.seconds(m)
			y := top + j*(barHeight+barGap)
			if v <= 0 {
				continue
			}
			w := math.Max(x(v)-labelWidth, 1)
			label := duration(v)
			if s.detail != nil {
				label += s.detail(m)
			}
			p(`<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
				labelWidth, y, w, barHeight, s.color, esc(m.Name), esc(s.name), esc(label))
			p(`<text x="%.1f" y="%d">%s</text>`+"\n", labelWidth+w+4, y+barHeight-2, esc(label))
		}
		if why := notRun(m); why != "" {
			y := top + 2*(barHeight+barGap) + barHeight - 2
			p(`<text x="%d" y="%d" fill="#555" font-style="italic">%s</text>`+"\n", labelWidth+4, y, esc(why))
		}
	}
	p("</svg>\n")
	return []byte(b.String())
}

// notRun says, briefly, why a model has no encrypted bars.
func notRun(m ModelResult) string {
	switch {
	case m.ran():
		return ""
	case m.Skipped != "":
		return fmt.Sprintf("encrypted stages skipped: %s of evaluation keys", gib(m.EvalKeyMemoryBytes))
	case m.Error != "":
		return "failed: see the report"
	}
	return ""
}

// decadeLabel names 10^d seconds in the largest unit that keeps it whole;
// powers of ten with non-negative exponents are exact in float64.
func decadeLabel(d float64) string {
	switch {
	case d >= 0:
		return fmt.Sprintf("%g s", math.Pow(10, d))
	case d >= -3:
		return fmt.Sprintf("%g ms", math.Pow(10, d+3))
	default:
		return fmt.Sprintf("%g µs", math.Pow(10, d+6))
	}
}

var svgEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func esc(s string) string { return svgEscaper.Replace(s) }
