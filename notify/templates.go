package notify

import (
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"
)

// Summary is the data the email templates render: every event of one run
// for one owner, also split by kind.
type Summary struct {
	Owner      string
	Events     []Event
	Rebuilt    []Event
	Failed     []Event
	Skipped    []Event
	GradeDrops []Event
	// ImageFailed are the images that could not be read or scanned.
	ImageFailed []Event
	// Generated is when the message was made.
	Generated time.Time
}

func summarize(owner string, events []Event, now time.Time) Summary {
	s := Summary{Owner: owner, Events: events, Generated: now}
	for _, e := range events {
		switch e.Kind {
		case KindRebuilt:
			s.Rebuilt = append(s.Rebuilt, e)
		case KindRebuildFailed:
			s.Failed = append(s.Failed, e)
		case KindPublishSkipped:
			s.Skipped = append(s.Skipped, e)
		case KindGradeDropping:
			s.GradeDrops = append(s.GradeDrops, e)
		case KindImageFailed:
			s.ImageFailed = append(s.ImageFailed, e)
		}
	}
	return s
}

// Templates render an email: a one-line subject, a text/plain body and a
// text/html body. Replace any of them; a nil field falls back to the
// default. Templates may use the functions of TemplateFuncs.
type Templates struct {
	Subject *texttemplate.Template
	Text    *texttemplate.Template
	HTML    *htmltemplate.Template
}

// TemplateFuncs returns the functions available to templates:
// short (a digest's first 12 hex digits), join (strings.Join), date
// (a time in UTC as "2006-01-02 15:04 MST") and indent (prefix every line
// of a text, such as a build log's tail).
func TemplateFuncs() map[string]any {
	return map[string]any{
		"short": func(d string) string {
			_, hex, ok := strings.Cut(d, ":")
			if !ok {
				hex = d
			}
			if len(hex) > 12 {
				hex = hex[:12]
			}
			return hex
		},
		"join": strings.Join,
		"indent": func(prefix, s string) string {
			return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
		},
		"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") },
	}
}

// ParseTemplates parses user templates for the subject, text and HTML
// parts. An empty source keeps the default for that part.
func ParseTemplates(subject, text, html string) (Templates, error) {
	var t Templates
	var err error
	if subject != "" {
		if t.Subject, err = texttemplate.New("subject").Funcs(TemplateFuncs()).Parse(subject); err != nil {
			return Templates{}, err
		}
	}
	if text != "" {
		if t.Text, err = texttemplate.New("text").Funcs(TemplateFuncs()).Parse(text); err != nil {
			return Templates{}, err
		}
	}
	if html != "" {
		if t.HTML, err = htmltemplate.New("html").Funcs(TemplateFuncs()).Parse(html); err != nil {
			return Templates{}, err
		}
	}
	return t, nil
}

// DefaultTemplates returns the built-in templates.
func DefaultTemplates() Templates {
	return Templates{
		Subject: texttemplate.Must(texttemplate.New("subject").Funcs(TemplateFuncs()).Parse(defaultSubject)),
		Text:    texttemplate.Must(texttemplate.New("text").Funcs(TemplateFuncs()).Parse(defaultText)),
		HTML:    htmltemplate.Must(htmltemplate.New("html").Funcs(TemplateFuncs()).Parse(defaultHTML)),
	}
}

func (t Templates) withDefaults() Templates {
	d := DefaultTemplates()
	if t.Subject == nil {
		t.Subject = d.Subject
	}
	if t.Text == nil {
		t.Text = d.Text
	}
	if t.HTML == nil {
		t.HTML = d.HTML
	}
	return t
}

const defaultSubject = `[openabs] {{with .Rebuilt}}{{len .}} rebuilt{{end}}` +
	`{{with .Failed}}{{if $.Rebuilt}}, {{end}}{{len .}} failed{{end}}` +
	`{{with .Skipped}}{{if or $.Rebuilt $.Failed}}, {{end}}{{len .}} not published{{end}}` +
	`{{with .GradeDrops}}{{if or $.Rebuilt $.Failed $.Skipped}}, {{end}}{{len .}} grade warning{{if gt (len .) 1}}s{{end}}{{end}}` +
	`{{with .ImageFailed}}{{if or $.Rebuilt $.Failed $.Skipped $.GradeDrops}}, {{end}}{{len .}} unreadable{{end}}` +
	`{{if eq (len .Events) 1}}: {{(index .Events 0).Image}}{{end}}`

const defaultText = `Hello,

this is what openabs did for your images.
{{with .Rebuilt}}
Rebuilt and published:
{{range .}}
  {{.Image}}
    digest:     {{with .Rebuilt.OldDigest}}{{short .}} -> {{end}}{{short .Rebuilt.NewDigest}}
    tags:       {{join .Rebuilt.Tags ", "}}
    fixes:      {{join .Rebuilt.Advisories ", "}}
    grade:      {{.Rebuilt.GradeBefore}} -> {{.Rebuilt.GradeAfter}}
{{end}}{{end}}{{with .Failed}}
Rebuild failed:
{{range .}}
  {{.Image}}
    stage:      {{.Failure.Stage}}
    cause:      {{.Failure.Cause}}
{{- with .Failure.Log}}
    log tail:
{{indent "      | " .}}
{{- end}}
{{end}}{{end}}{{with .ImageFailed}}
Image could not be checked:
{{range .}}
  {{.Image}}
    stage:      {{.Failure.Stage}}
    cause:      {{.Failure.Cause}}
{{end}}{{end}}{{with .Skipped}}
Rebuilt but not published:
{{range .}}
  {{.Image}}
    reason:     {{.Skip.Reason}}
{{end}}{{end}}{{with .GradeDrops}}
Grade will drop soon:
{{range .}}
  {{.Image}}
    on:         {{date .GradeDrop.At}}
    grade:      {{.GradeDrop.From}} -> {{.GradeDrop.To}}
    advisory:   {{.GradeDrop.Advisory}}
{{end}}{{end}}
-- 
openabs, {{date .Generated}}
`

const defaultHTML = `<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<p>This is what openabs did for your images.</p>
{{with .Rebuilt}}<h3>Rebuilt and published</h3>
<table border="1" cellpadding="4" style="border-collapse:collapse">
<tr><th>Image</th><th>Digest</th><th>Tags</th><th>Fixes</th><th>Grade</th></tr>
{{range .}}<tr><td>{{.Image}}</td><td><code>{{with .Rebuilt.OldDigest}}{{short .}} &rarr; {{end}}{{short .Rebuilt.NewDigest}}</code></td><td>{{join .Rebuilt.Tags ", "}}</td><td>{{join .Rebuilt.Advisories ", "}}</td><td>{{.Rebuilt.GradeBefore}} &rarr; {{.Rebuilt.GradeAfter}}</td></tr>
{{end}}</table>{{end}}
{{with .Failed}}<h3>Rebuild failed</h3>
<ul>{{range .}}<li><b>{{.Image}}</b>: {{.Failure.Stage}}: {{.Failure.Cause}}{{with .Failure.Log}}
<br>Log tail:<pre style="background:#f4f4f4;padding:4px">{{.}}</pre>{{end}}</li>
{{end}}</ul>{{end}}
{{with .ImageFailed}}<h3>Image could not be checked</h3>
<ul>{{range .}}<li><b>{{.Image}}</b>: {{.Failure.Stage}}: {{.Failure.Cause}}</li>
{{end}}</ul>{{end}}
{{with .Skipped}}<h3>Rebuilt but not published</h3>
<ul>{{range .}}<li><b>{{.Image}}</b>: {{.Skip.Reason}}</li>
{{end}}</ul>{{end}}
{{with .GradeDrops}}<h3>Grade will drop soon</h3>
<ul>{{range .}}<li><b>{{.Image}}</b>: {{.GradeDrop.From}} &rarr; {{.GradeDrop.To}} on {{date .GradeDrop.At}} ({{.GradeDrop.Advisory}})</li>
{{end}}</ul>{{end}}
<p style="color:#666">openabs, {{date .Generated}}</p>
</body></html>
`
