package advisory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

var severityNames = [...]string{"None", "Low", "Moderate", "Important", "Critical"}

// String returns Red Hat's name for the severity ("Important"), or "None".
func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "Severity(" + strconv.Itoa(int(s)) + ")"
}

// ParseSeverity reads a severity name case-insensitively: Red Hat's
// Critical/Important/Moderate/Low, plus High (as Important) and Medium (as
// Moderate), which other vendors use. "" and "None" give SeverityNone.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "none", "unknown":
		return SeverityNone, nil
	case "low":
		return SeverityLow, nil
	case "moderate", "medium":
		return SeverityModerate, nil
	case "important", "high":
		return SeverityImportant, nil
	case "critical":
		return SeverityCritical, nil
	}
	return SeverityNone, fmt.Errorf("advisory: unknown severity %q", s)
}

// MarshalText encodes the severity by name, so JSON reads "Important".
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a severity name (see ParseSeverity).
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalJSON accepts a name ("Important") or, for data written before
// severities were named, the number.
func (s *Severity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] != '"' {
		if bytes.Equal(b, []byte("null")) {
			return nil
		}
		var n int
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("advisory: severity: %w", err)
		}
		if n < int(SeverityNone) || n > int(SeverityCritical) {
			return fmt.Errorf("advisory: severity %d out of range", n)
		}
		*s = Severity(n)
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("advisory: severity: %w", err)
	}
	return s.UnmarshalText([]byte(name))
}

// TypeOf returns the erratum type an advisory id implies: RHSA-…, and the
// equivalent ALSA-/RLSA-/ELSA-… of rebuilds, are security advisories.
func TypeOf(id string) Type {
	prefix, _, _ := strings.Cut(id, "-")
	prefix = strings.ToUpper(prefix)
	switch {
	case len(prefix) == 4 && strings.HasSuffix(prefix, "SA"):
		return TypeSecurity
	case len(prefix) == 4 && strings.HasSuffix(prefix, "BA"):
		return TypeBugFix
	case len(prefix) == 4 && strings.HasSuffix(prefix, "EA"):
		return TypeEnhancement
	}
	return ""
}

// PackageNames returns the sorted binary package names the advisory fixes
// (source packages left out): what a reverse index from advisories to
// images needs.
func (a *Advisory) PackageNames() []string {
	var out []string
	for _, f := range a.Fixes {
		if f.Arch == "src" || f.Arch == "nosrc" || f.Name == "" {
			continue
		}
		if i, found := slices.BinarySearch(out, f.Name); !found {
			out = slices.Insert(out, i, f.Name)
		}
	}
	return out
}
