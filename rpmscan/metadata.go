package rpmscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ParseOSRelease parses an os-release(5) file into its variables. It is
// lenient: malformed lines are skipped, quotes are removed and the shell
// escapes os-release allows inside double quotes (\" \\ \$ \`) are undone.
func ParseOSRelease(b []byte) map[string]string {
	vars := map[string]string{}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok || !validOSReleaseKey(key) {
			continue
		}
		vars[key] = unquoteOSRelease(strings.TrimSpace(val))
	}
	return vars
}

func validOSReleaseKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func unquoteOSRelease(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if !strings.Contains(v, `\`) {
		return v
	}
	var sb strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
			i++
		}
		sb.WriteByte(v[i])
	}
	return sb.String()
}

// osFrom builds the OS from os-release content and the redhat-release line.
func osFrom(osRelease, redhatRelease []byte) OS {
	vars := ParseOSRelease(osRelease)
	rh, _, _ := strings.Cut(string(redhatRelease), "\n")
	return OS{
		ID:            vars["ID"],
		VersionID:     vars["VERSION_ID"],
		Name:          vars["NAME"],
		PrettyName:    vars["PRETTY_NAME"],
		CPEName:       vars["CPE_NAME"],
		RedHatRelease: strings.TrimSpace(rh),
	}
}

// ParseContentSets returns the content sets (repository ids such as
// "rhel-9-for-x86_64-baseos-rpms") listed by an image content manifest
// (/root/buildinfo/content_manifests/*.json) or by
// /usr/share/buildinfo/content-sets.json. Both are JSON objects with a
// "content_sets" array; a bare JSON array of strings is accepted too. The
// error wraps [ErrCorruptMetadata].
func ParseContentSets(b []byte) ([]string, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var sets []string
		if err := json.Unmarshal(b, &sets); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCorruptMetadata, err)
		}
		return sets, nil
	}
	var doc struct {
		ContentSets []string `json:"content_sets"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorruptMetadata, err)
	}
	return doc.ContentSets, nil
}

// mergeSets returns the sorted union of sets without empty strings; never nil.
func mergeSets(sets ...[]string) []string {
	out := []string{}
	for _, s := range sets {
		for _, v := range s {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// labelMatters reports whether a config label is kept in the inventory.
func labelMatters(k string) bool {
	switch k {
	case "com.redhat.component", "name", "version", "release", "architecture",
		"vendor", "cpe", "vcs-ref", "build-date", "distribution-scope":
		return true
	}
	return strings.HasPrefix(k, "org.opencontainers.image.base.")
}
