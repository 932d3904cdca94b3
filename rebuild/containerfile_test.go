package rebuild_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openabs/abs/rebuild"
)

func TestParseContainerfile(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		args      map[string]string
		wantBases []string
		wantFinal string
	}{
		{name: "single", in: "FROM registry.example/ubi9:9.4\nRUN true\n", wantBases: []string{"registry.example/ubi9:9.4"}, wantFinal: "registry.example/ubi9:9.4"},
		{
			name: "multi-stage with stage reference",
			in: `# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM golang:1.26 AS Build
RUN go build ./...
from registry.example/ubi9-minimal:latest
COPY --from=build /out /app
`,
			wantBases: []string{"golang:1.26", "registry.example/ubi9-minimal:latest"}, wantFinal: "registry.example/ubi9-minimal:latest",
		},
		{
			name: "ARG defaults and overrides, continuation",
			in: `ARG REG=registry.example
ARG BASE=${REG}/base:1
ARG TOOLS
FROM ${TOOLS:-${REG}/tools}:2 as tools
FROM \
  $BASE
FROM tools
`,
			args:      map[string]string{"REG": "quay.example"},
			wantBases: []string{"quay.example/tools:2", "quay.example/base:1"}, wantFinal: "tools",
		},
		{name: "scratch", in: "FROM scratch\nCOPY x /\n", wantBases: nil, wantFinal: "scratch"},
		{name: "digest", in: "FROM reg.example/b@sha256:" + sha + "\n", wantBases: []string{"reg.example/b@sha256:" + sha}, wantFinal: "reg.example/b@sha256:" + sha},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cf, err := rebuild.ParseContainerfile([]byte(tc.in), tc.args)
			require.NoError(t, err)
			assert.Equal(t, tc.wantBases, cf.Bases())
			assert.Equal(t, tc.wantFinal, cf.Final().Image)
		})
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseContainerfileErrors(t *testing.T) {
	for _, in := range []string{"", "RUN true\n", "FROM\n", "FROM a b c d\n", "ARG\nFROM x\n", "FROM $UNSET\n"} {
		_, err := rebuild.ParseContainerfile([]byte(in), nil)
		var se *rebuild.SyntaxError
		require.ErrorAs(t, err, &se, "%q", in)
	}
}

func TestPin(t *testing.T) {
	in := `ARG BASE=reg.example/base:1
FROM reg.example/tools:2 AS tools
FROM reg.example/other:1
FROM ${BASE}
# FROM reg.example/tools:2 in a comment stays
FROM reg.example/tools:2 AS again
FROM \
   reg.example/tools:2
`
	pins := map[string]string{
		rebuild.Repository("reg.example/tools:2"): "reg.example/tools@sha256:" + sha,
		rebuild.Repository("reg.example/base:1"):  "reg.example/base@sha256:" + sha,
	}
	out, args, err := rebuild.Pin([]byte(in), nil, pins)
	require.NoError(t, err)
	assert.Equal(t, `ARG BASE=reg.example/base:1
FROM reg.example/tools@sha256:`+sha+` AS tools
FROM reg.example/other:1
FROM ${BASE}
# FROM reg.example/tools:2 in a comment stays
FROM reg.example/tools@sha256:`+sha+` AS again
FROM \
   reg.example/tools@sha256:`+sha+`
`, string(out))
	assert.Equal(t, map[string]string{"BASE": "reg.example/base@sha256:" + sha}, args)

	cf, err := rebuild.ParseContainerfile(out, args)
	require.NoError(t, err)
	assert.Equal(t, "reg.example/base@sha256:"+sha, cf.Stages[2].Image)
}

func FuzzParseContainerfile(f *testing.F) {
	for _, s := range []string{
		"FROM registry.example/ubi9:9.4\nRUN true\n",
		"ARG A=b\nFROM ${A:-c}/d:${E:+f} AS x\nFROM x\n",
		"FROM \\\n  a\n# c\nFROM --platform=linux/amd64 b as c\n",
		"FROM $\nFROM ${\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := rebuild.ParseContainerfile(data, map[string]string{"A": "x"})
		if err != nil {
			return
		}
		require.NotEmpty(t, cf.Stages)
		_ = cf.Bases()
		out, _, err := rebuild.Pin(data, nil, map[string]string{rebuild.Repository(cf.Final().Image): "r@sha256:" + sha})
		if err == nil {
			_, err = rebuild.ParseContainerfile(out, nil)
			_ = err
		}
	})
}

func TestNextRelease(t *testing.T) {
	for in, want := range map[string]string{
		"":                "1",
		"7":               "8",
		"7.1":             "7.2",
		"1.el9":           "2.el9",
		"3.2.el9_4":       "3.3.el9_4",
		"1214.1726694543": "1214.1726694544",
		"9":               "10",
		"beta":            "beta.1",
		"1..2":            "1..3", "1.el9.1": "1.el9.2",
		"18446744073709551615": "18446744073709551616", "0099": "0100",
	} {
		assert.Equal(t, want, rebuild.NextRelease(in), "NextRelease(%q)", in)
	}
}

func FuzzNextRelease(f *testing.F) {
	for _, s := range []string{"7", "7.1", "1.el9", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := rebuild.NextRelease(s)
		require.NotEqual(t, s, n)
		require.NotEmpty(t, n)
	})
}
