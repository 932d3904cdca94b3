package advisory

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// OSV is a Source of OSV records for RPM distributions other than Red Hat
// (AlmaLinux, Rocky Linux…): either a local directory of *.json records,
// or an HTTP base laid out like osv.dev's bucket, where BASE/all.zip holds
// every record of an ecosystem (for example
// "https://osv-vulnerabilities.storage.googleapis.com/AlmaLinux:9/").
// all.zip is fetched with a conditional request; when it changed, its
// records replace the source's earlier content.
type OSV struct {
	loc  string
	cfg  *config
	http *fetcher
	dir  *Dir
}

var _ Source = (*OSV)(nil)

// NewOSV returns an OSV source for a directory or an http(s) base URL.
func NewOSV(location string, opts ...Option) *OSV {
	cfg := newConfig(opts)
	o := &OSV{loc: location, cfg: cfg, http: &fetcher{cfg: cfg}}
	if !isURL(location) {
		o.dir = NewDir(location, opts...)
	} else if !strings.HasSuffix(o.loc, "/") && !strings.HasSuffix(o.loc, ".zip") {
		o.loc += "/"
	}
	return o
}

// Name returns "osv:" and the location.
func (o *OSV) Name() string { return "osv:" + o.loc }

// Fetch reads the records.
func (o *OSV) Fetch(ctx context.Context, cur Cursor) (*Batch, error) {
	if o.dir != nil {
		b, err := o.dir.Fetch(ctx, cur)
		if err != nil {
			return nil, err
		}
		for i := range b.Advisories {
			b.Advisories[i].Source = o.Name()
		}
		b.Replace = []string{o.Name()}
		return b, nil
	}
	url := o.loc
	if !strings.HasSuffix(url, ".zip") {
		url += "all.zip"
	}
	b := &Batch{Cursor: Cursor{Validators: map[string]Validator{}}}
	for k, v := range cur.Validators {
		b.Cursor.Validators[k] = v
	}
	body, nv, err := o.http.get(ctx, url, cur.Validators[url])
	if errors.Is(err, errNotModified) {
		return b, nil
	}
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, &ParseError{Doc: url, Err: err}
	}
	b.Replace = []string{o.Name()}
	files := slices.Clone(zr.File)
	slices.SortFunc(files, func(a, b *zip.File) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range files {
		if !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		data, err := readZip(f)
		var a *Advisory
		if err == nil {
			a, err = ParseOSV(data)
		}
		if err != nil {
			b.Skipped = append(b.Skipped, &DocError{Source: o.Name(), Doc: f.Name, Err: err})
			continue
		}
		a.Source = o.Name()
		b.Advisories = append(b.Advisories, *a)
	}
	b.Cursor.Validators[url] = nv
	return b, nil
}

func readZip(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := readBounded(rc, maxDocument)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	return data, nil
}
