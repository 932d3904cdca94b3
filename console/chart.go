package console

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/go-analyze/charts"
)

// grades are the letters from the best down; gradeValue maps a letter to
// its height on the chart (A highest).
const grades = "ABCDEF"

func gradeValue(g string) float64 {
	i := strings.Index(grades, g)
	if g == "" || i < 0 {
		return 0
	}
	return float64(len(grades) - 1 - i)
}

// chartSamples is how many dates the timeline chart samples: enough for
// the steps to read as steps on a time-proportional axis.
const chartSamples = 120

// timelineSVG draws the freshness grades of steps, past and future, as an
// SVG line chart over a time-proportional axis: the grade is sampled at
// evenly spaced dates, so each step is a flat segment and each drop a
// step down, with the letter written where a step starts. The SVG is made
// with go-analyze/charts, whose fonts are compiled in: nothing is fetched.
func timelineSVG(steps []step) (template.HTML, error) {
	if len(steps) == 0 {
		return "", nil
	}
	first := steps[0].From
	last := steps[len(steps)-1].From
	end := last.Add(last.Sub(first) / 8)
	if end.Sub(last) < 30*24*time.Hour {
		end = last.Add(30 * 24 * time.Hour)
	}
	span := end.Sub(first)
	vals := make([]float64, chartSamples)
	labels := make([]string, chartSamples)
	starts := map[int]bool{}
	si := 0
	for i := range chartSamples {
		at := first.Add(span * time.Duration(i) / time.Duration(chartSamples-1))
		for si+1 < len(steps) && !at.Before(steps[si+1].From) {
			si++
			starts[i] = true
		}
		if i == 0 {
			starts[0] = true
		}
		vals[i] = gradeValue(steps[si].Grade)
		labels[i] = at.UTC().Format("2006-01-02")
	}
	opt := charts.NewLineChartOptionWithData([][]float64{vals})
	opt.Theme = charts.GetTheme(charts.ThemeLight)
	opt.XAxis.Labels = labels
	opt.XAxis.LabelCount = 5
	opt.XAxis.LabelFontStyle = charts.FontStyle{FontSize: 12}
	opt.XAxis.Title = "date"
	opt.Symbol = charts.Symbol{Shape: charts.SymbolNone}
	// go-analyze/charts v0.6.4 passes the formatter the series' index,
	// not the point's as documented; it calls it once per point in order,
	// so the point's index is counted here.
	point := -1
	opt.SeriesList[0].Label = charts.SeriesLabel{Show: charts.Ptr(true),
		LabelFormatter: func(_ int, _ string, v float64) (string, *charts.LabelStyle) {
			point++
			if starts[point] {
				return letterOf(v), nil
			}
			return "", nil
		}}
	lo, hi := 0.0, float64(len(grades)-1)
	opt.YAxis[0].Min, opt.YAxis[0].Max = &lo, &hi
	opt.YAxis[0].Unit = 1
	opt.YAxis[0].LabelCount = len(grades)
	opt.YAxis[0].ValueFormatter = letterOf
	opt.LineStrokeWidth = 3
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: 760, Height: 300})
	if err := p.LineChart(opt); err != nil {
		return "", fmt.Errorf("console: timeline chart: %w", err)
	}
	b, err := p.Bytes()
	if err != nil {
		return "", fmt.Errorf("console: timeline chart: %w", err)
	}
	svg := string(b)
	// Give the drawing a role and a name for screen readers; the table
	// under it carries the same data as text.
	svg = strings.Replace(svg, "<svg ", `<svg role="img" aria-labelledby="timeline-title" `, 1)
	if i := strings.Index(svg, ">"); i > 0 {
		svg = svg[:i+1] + `<title id="timeline-title">Freshness grade timeline: ` + template.HTMLEscapeString(describe(steps)) + `</title>` + svg[i+1:]
	}
	// The labels are dates and letters made here, and the library
	// escapes text: the SVG is safe to inline.
	return template.HTML(svg), nil //nolint:gosec // made from dates and grade letters only
}

func letterOf(f float64) string {
	i := len(grades) - 1 - int(f+0.5)
	if i < 0 || i >= len(grades) {
		return ""
	}
	return grades[i : i+1]
}

func describe(steps []step) string {
	var parts []string
	for _, s := range steps {
		parts = append(parts, s.Grade+" from "+s.From.UTC().Format(time.DateOnly))
	}
	return strings.Join(parts, ", ")
}
