package certify

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"
)

func fuzzTar(tb testing.TB, entries ...tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := []byte(h.Uname) // the body travels in Uname to keep seeds short
		h.Uname = ""
		h.Size = int64(len(body))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			tb.Fatal(err)
		}
		if h.Size > 0 {
			_, _ = tw.Write(body)
		}
	}
	_ = tw.Close()
	return buf.Bytes()
}

// FuzzReadLayer feeds arbitrary bytes as the second layer of an image:
// the walk must return an error or a consistent FS, never panic or loop,
// and stay within its limits.
func FuzzReadLayer(f *testing.F) {
	reg := func(name, body string) tar.Header { return tar.Header{Name: name, Typeflag: tar.TypeReg, Uname: body} }
	f.Add(fuzzTar(f, reg("licenses/LICENSE", "MIT"), tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "licenses"}))
	f.Add(fuzzTar(f, reg("a/.wh..wh..opq", ""), reg(".wh.usr", ""), tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "usr/bin/bash"}))
	f.Add(fuzzTar(f, reg("root/buildinfo/Dockerfile-a", "LABEL vendor=\"Red Hat, Inc.\""), tar.Header{Name: "d/", Typeflag: tar.TypeDir}, reg("d", "file over dir")))
	f.Add(fuzzTar(f, tar.Header{Name: "x", Typeflag: tar.TypeSymlink, Linkname: "x/x"}, reg("../up", "")))
	f.Add([]byte("not a tar"))
	base := fuzzTar(f, reg("usr/bin/bash", "x"), reg("a/b", "y"), reg("root/buildinfo/Dockerfile-b", "LABEL a=b"))
	lim := Limits{MaxEntries: 5000}.withDefaults()
	f.Fuzz(func(t *testing.T, b []byte) {
		fsys := newFS()
		total, captured := 0, 0
		if _, err := fsys.readLayer(context.Background(), 0, bytes.NewReader(base), lim, &total, &captured); err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.readLayer(context.Background(), 1, bytes.NewReader(b), lim, &total, &captured); err != nil {
			return
		}
		if total > lim.MaxEntries || captured > maxCaptureTotal {
			t.Fatalf("limits exceeded: %d entries, %d bytes", total, captured)
		}
		n := 0
		_ = fsys.Walk("", func(e Entry) error {
			n++
			if _, ok := fsys.Lookup(e.Path); !ok {
				t.Fatalf("walked %q but cannot look it up", e.Path)
			}
			_, _ = fsys.Stat(e.Path)
			return nil
		})
		if n > total+lim.MaxEntries {
			t.Fatalf("%d entries walked from %d read", n, total)
		}
		_ = DockerfileLabels(string(b))
	})
}
