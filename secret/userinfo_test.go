package secret_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/openabs/abs/secret"
)

func TestHideUserinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://bot:hunter2@feed.example.com/csaf/", "https://" + secret.Placeholder + "@feed.example.com/csaf/"},
		{"get osv+https://tok@h/x: 401; retry https://a:b@h/y", "get osv+https://" + secret.Placeholder + "@h/x: 401; retry https://" + secret.Placeholder + "@h/y"},
		{"https://feed.example.com/csaf/", "https://feed.example.com/csaf/"},
		{"mailto:someone@example.com", "mailto:someone@example.com"},
		{"https://h/path?q=a@b", "https://h/path?q=a@b"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, secret.HideUserinfo(tt.in), tt.in)
	}
}
