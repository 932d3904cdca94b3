package advisory

import (
	"encoding/json"
	"strings"
	"time"
)

type osvRecord struct {
	ID        string   `json:"id"`
	Modified  string   `json:"modified"`
	Published string   `json:"published"`
	Withdrawn string   `json:"withdrawn"`
	Summary   string   `json:"summary"`
	Aliases   []string `json:"aliases"`
	Related   []string `json:"related"`
	Upstream  []string `json:"upstream"`
	Affected  []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Introduced string `json:"introduced"`
				Fixed      string `json:"fixed"`
			} `json:"events"`
		} `json:"ranges"`
		EcosystemSpecific map[string]any `json:"ecosystem_specific"`
		DatabaseSpecific  map[string]any `json:"database_specific"`
	} `json:"affected"`
	References []struct {
		Type string `json:"type"`
		URL  string `json:"url"`
	} `json:"references"`
	DatabaseSpecific map[string]any `json:"database_specific"`
}

// ParseOSV reads one OSV record (https://ossf.github.io/osv-schema/) as
// published for RPM distributions such as AlmaLinux ("AlmaLinux:9") and
// Rocky Linux ("Rocky Linux:9"). Each affected package's ECOSYSTEM "fixed"
// event becomes a Fix whose Product is the ecosystem, with no CPE and no
// arch (it applies to every arch). The severity is read from
// database_specific.severity or ecosystem_specific.severity when present.
// Errors match ErrMalformed.
func ParseOSV(data []byte) (*Advisory, error) {
	var r osvRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, &ParseError{Err: err}
	}
	if r.ID == "" {
		return nil, malformed("osv: id is missing")
	}
	if len(r.Affected) == 0 {
		return nil, malformed("osv %s: no affected packages", r.ID)
	}
	pub, err := parseOSVTime(r.Published)
	if err != nil {
		return nil, malformed("osv %s: published: %v", r.ID, err)
	}
	mod, err := parseOSVTime(r.Modified)
	if err != nil {
		return nil, malformed("osv %s: modified: %v", r.ID, err)
	}
	if pub.IsZero() {
		pub = mod
	}
	a := &Advisory{ID: r.ID, Type: TypeOf(r.ID), Title: r.Summary, Issued: pub, Updated: mod}
	a.Severity = osvSeverity(r.DatabaseSpecific)
	for _, l := range [][]string{r.Aliases, r.Related, r.Upstream} {
		for _, id := range l {
			if strings.HasPrefix(id, "CVE-") && !contains(a.CVEs, id) {
				a.CVEs = append(a.CVEs, id)
			}
		}
	}
	for _, ref := range r.References {
		if ref.Type == "ADVISORY" {
			a.URL = ref.URL
			break
		}
	}
	if r.Withdrawn != "" {
		return a, nil // withdrawn: keep the record, fix nothing
	}
	for _, af := range r.Affected {
		if af.Package.Name == "" || af.Package.Ecosystem == "" {
			continue
		}
		sev := max(osvSeverity(af.EcosystemSpecific), osvSeverity(af.DatabaseSpecific))
		a.Severity = max(a.Severity, sev)
		for _, rg := range af.Ranges {
			if rg.Type != "ECOSYSTEM" {
				continue
			}
			for _, ev := range rg.Events {
				if ev.Fixed == "" {
					continue
				}
				n, ok := parseNEVRA(af.Package.Name + "-" + ev.Fixed)
				if !ok || n.name != af.Package.Name || n.version == "" {
					continue
				}
				a.Fixes = append(a.Fixes, Fix{
					Product: af.Package.Ecosystem, Name: n.name, Epoch: n.epoch,
					Version: n.version, Release: n.release, Severity: sev,
				})
			}
		}
	}
	return a, nil
}

func parseOSVTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func osvSeverity(m map[string]any) Severity {
	if s, ok := m["severity"].(string); ok {
		v, _ := ParseSeverity(s)
		return v
	}
	return SeverityNone
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
