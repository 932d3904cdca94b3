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

// timelineSVG draws the freshness grades of steps, past and future, as an
// SVG line chart: one point per step at the date it starts, the letter on
// each point, the step holding now marked "(now)". The SVG is made with
// go-analyze/charts, whose fonts are compiled in: nothing is fetched.
func timelineSVG(steps []step, now time.Time) (template.HTML, error) {
	if len(steps) == 0 {
		return "", nil
	}
	vals := make([]float64, len(steps))
	labels := make([]string, len(steps))
	for i, s := range steps {
		vals[i] = gradeValue(s.Grade)
		labels[i] = s.From.UTC().Format("2006-01-02")
		if !now.Before(s.From) && (s.Until == nil || now.Before(*s.Until)) {
			labels[i] += " (now)"
		}
	}
	opt := charts.NewLineChartOptionWithData([][]float64{vals})
	opt.Theme = charts.GetTheme(charts.ThemeLight)
	opt.XAxis.Labels = labels
	opt.XAxis.Title = "grade from this date"
	if len(steps) > 5 {
		opt.XAxis.LabelRotation = -0.5
	}
	lo, hi := 0.0, float64(len(grades)-1)
	opt.YAxis[0].Min, opt.YAxis[0].Max = &lo, &hi
	opt.YAxis[0].Unit = 1
	opt.YAxis[0].LabelCount = len(grades)
	opt.YAxis[0].ValueFormatter = letterOf
	opt.SeriesList[0].Name = "freshness grade"
	opt.SeriesList[0].Label = charts.SeriesLabel{Show: charts.Ptr(true), ValueFormatter: letterOf}
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
