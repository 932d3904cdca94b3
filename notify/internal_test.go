package notify

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/openabs/abs/secret"
)

func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"", "plain", "a\r\nBcc: x@y", "tab\there", "\u2028x\u0085y", "  spaced  out "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := oneLine(s)
		for _, r := range out {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				t.Fatalf("oneLine(%q) = %q holds %U", s, out, r)
			}
		}
		if strings.TrimSpace(out) != out {
			t.Fatalf("oneLine(%q) = %q is not trimmed", s, out)
		}
	})
}

// BenchmarkEmailMessage renders the message for one owner with 50 events
// (templates, MIME assembly), the per-owner cost of a run.
func BenchmarkEmailMessage(b *testing.B) {
	n, err := NewEmail(EmailConfig{Host: "smtp.example.com", From: "abs@example.com"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	var events []Event
	for i := range 50 {
		events = append(events, Event{Kind: KindRebuilt, Image: "registry.example.com/team/app" + strings.Repeat("x", i%5), Owner: "a@example.com",
			Rebuilt: &Rebuilt{OldDigest: "sha256:" + strings.Repeat("a", 64), NewDigest: "sha256:" + strings.Repeat("b", 64),
				Tags: []string{"1.0-2", "latest"}, Advisories: []string{"RHSA-2026:0001", "RHSA-2026:0002"}, GradeBefore: "C", GradeAfter: "A"}})
	}
	b.ReportAllocs()
	for b.Loop() {
		m, err := n.message("a@example.com", []string{"a@example.com"}, events, now)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.WriteTo(discard{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign signs a 50-event webhook body.
func BenchmarkSign(b *testing.B) {
	body := []byte(strings.Repeat(`{"kind":"rebuilt","image":"registry.example.com/team/app"},`, 50))
	s := secret.New("k")
	b.ReportAllocs()
	for b.Loop() {
		_ = secret.Sign(s, body)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
