package certify_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/certify"
)

func report(platforms map[string]map[string]certify.Status) *certify.Report {
	rep := &certify.Report{Policy: "container"}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		checks, ok := platforms[p]
		if !ok {
			continue
		}
		pr := certify.PlatformResults{Platform: p}
		for _, c := range allChecks {
			if s, ok := checks[c]; ok {
				pr.Results = append(pr.Results, certify.Result{Check: c, Status: s, Reason: c + " " + string(s)})
			}
		}
		rep.Platforms = append(rep.Platforms, pr)
	}
	return rep
}

func TestGate(t *testing.T) {
	const P, F, E = certify.Passed, certify.Failed, certify.Error
	all := func(s certify.Status) map[string]certify.Status {
		m := map[string]certify.Status{}
		for _, c := range allChecks {
			m[c] = s
		}
		return m
	}
	with := func(m map[string]certify.Status, check string, s certify.Status) map[string]certify.Status {
		n := map[string]certify.Status{}
		for k, v := range m {
			n[k] = v
		}
		if s == "" {
			delete(n, check)
		} else {
			n[check] = s
		}
		return n
	}
	amd := func(m map[string]certify.Status) map[string]map[string]certify.Status {
		return map[string]map[string]certify.Status{"linux/amd64": m}
	}
	tests := []struct {
		name             string
		current, rebuild *certify.Report
		blocked          []string // "platform check"
	}{
		{"first certification, all pass", nil, report(amd(all(P))), nil},
		{"first certification, one fails", nil, report(amd(with(all(P), "HasLicense", F))), []string{"linux/amd64 HasLicense"}},
		{"first certification, one errs", nil, report(amd(with(all(P), "BasedOnUbi", E))), []string{"linux/amd64 BasedOnUbi"}},
		{"no rebuild results", report(amd(all(P))), &certify.Report{}, []string{" "}},
		{"still passing", report(amd(all(P))), report(amd(all(P))), nil},
		{"a passing check breaks", report(amd(all(P))), report(amd(with(all(P), "RunAsNonRoot", F))), []string{"linux/amd64 RunAsNonRoot"}},
		{"a passing check errs", report(amd(all(P))), report(amd(with(all(P), "BasedOnUbi", E))), []string{"linux/amd64 BasedOnUbi"}},
		{"an already failing check may stay failed", report(amd(with(all(P), "HasLicense", F))), report(amd(with(all(P), "HasLicense", F))), nil},
		{"an erring check may fail", report(amd(with(all(P), "HasModifiedFiles", E))), report(amd(with(all(P), "HasModifiedFiles", F))), nil},
		{"a check stops running", report(amd(all(P))), report(amd(with(all(P), "HasUniqueTag", ""))), []string{"linux/amd64 HasUniqueTag"}},
		{"a platform disappears",
			report(map[string]map[string]certify.Status{"linux/amd64": all(P), "linux/arm64": with(all(F), "HasLicense", P)}),
			report(amd(all(P))), []string{"linux/arm64 HasLicense"}},
		{"a new platform needs nothing", report(amd(all(P))),
			report(map[string]map[string]certify.Status{"linux/amd64": all(P), "linux/arm64": all(F)}), nil},
		{"per platform",
			report(map[string]map[string]certify.Status{"linux/amd64": all(P), "linux/arm64": with(all(P), "HasLicense", F)}),
			report(map[string]map[string]certify.Status{"linux/amd64": with(all(P), "HasLicense", F), "linux/arm64": with(all(P), "HasLicense", F)}),
			[]string{"linux/amd64 HasLicense"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := certify.Gate(tt.current, tt.rebuild)
			var got []string
			for _, b := range d.Blocks {
				got = append(got, b.Platform+" "+b.Check)
				assert.NotEmpty(t, b.Reason)
				assert.NotEmpty(t, b.String())
			}
			assert.Equal(t, tt.blocked, got)
			assert.Equal(t, len(tt.blocked) == 0, d.Allowed)
			if d.Allowed {
				require.NoError(t, d.Err())
				return
			}
			err := d.Err()
			require.ErrorIs(t, err, certify.ErrBlocked)
			var ge *certify.GateError
			require.True(t, errors.As(err, &ge))
			assert.Equal(t, d.Blocks, ge.Blocks)
		})
	}

	d := certify.Gate(report(amd(all(P))), report(amd(with(all(P), "RunAsNonRoot", F))))
	assert.Equal(t, certify.Block{Platform: "linux/amd64", Check: "RunAsNonRoot", Before: P, After: F, Reason: "RunAsNonRoot failed"}, d.Blocks[0])
	assert.Equal(t, "certify: publication blocked: RunAsNonRoot on linux/amd64: passed before, failed now: RunAsNonRoot failed", d.Err().Error())
}

func TestReportJSON(t *testing.T) {
	rep := &certify.Report{Policy: "container", Platforms: []certify.PlatformResults{{
		Platform: "linux/amd64", Digest: "sha256:ab",
		Results: []certify.Result{{Check: "HasLicense", Status: certify.Error, Reason: "boom", Err: errors.New("boom")}},
	}}}
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	assert.JSONEq(t, `{"policy":"container","platforms":[{"platform":"linux/amd64","digest":"sha256:ab",
		"results":[{"check":"HasLicense","status":"error","reason":"boom"}]}]}`, string(b))
	var back certify.Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, certify.Error, back.Platforms[0].Results[0].Status)

	b, err = json.Marshal(certify.Gate(nil, rep))
	require.NoError(t, err)
	assert.JSONEq(t, `{"allowed":false,"blocks":[{"platform":"linux/amd64","check":"HasLicense","after":"error","reason":"boom"}]}`, string(b))
}
