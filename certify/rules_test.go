package certify_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/certify"
)

func TestViolatesTrademark(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"", false},
		{"Acme Corp", false},
		{"Red Hat", true},
		{"redhat", true},
		{"  Red-Hat widgets", true},
		{"RED_HAT", true},
		{"acme-redhat", true},
		{"Widgets by Red Hat", true},
		{"Acme for Red Hat", false},
		{"Acme, certified for red-hat OpenShift", false},
		{"for Red Hat", false},
		{"Red Hat for Red Hat", true},
		{"Acme for Red Hat and Red Hat", true},
		{"redder hats", false},
		{"red 9 hat", false},
		{"shredhat", true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, certify.ViolatesTrademark(tt.s), "%q", tt.s)
	}
}

func TestDockerfileLabels(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
	}{
		{"none", "FROM scratch\nRUN true\n", map[string]string{}},
		{"red hat build record", ubiDockerfile, map[string]string{
			"maintainer": "Red Hat, Inc.", "com.redhat.component": "ubi9-container", "name": "ubi9", "version": "9.4",
			"vendor": "Red Hat, Inc.", "url": "https://access.redhat.com/containers/#/registry.access.redhat.com/ubi9/images/9.4-1123",
		}},
		{"lower case, escapes, later wins", "label a=1 b=\"two \\\"2\\\"\"\nLABEL a=3\n# LABEL a=4\n", map[string]string{"a": "3", "b": `two "2"`}},
		{"continuation at end of file", "LABEL x=y \\", map[string]string{"x": "y"}},
		{"crlf", "LABEL vendor=\"Acme\"\r\n", map[string]string{"vendor": "Acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, certify.DockerfileLabels(tt.in))
		})
	}
}
