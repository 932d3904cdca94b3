package config

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/openabs/abs"
	"github.com/openabs/abs/api"
	"github.com/openabs/abs/secret"
)

// API configures the REST API and /metrics (package api).
type API struct {
	// Listen is the address the API listens on, for example
	// "127.0.0.1:8080"; empty: no API.
	Listen string `yaml:"listen"`
	// Tokens are the bearer tokens the API accepts; at least one when
	// Listen is set.
	Tokens []APIToken `yaml:"tokens"`
	// PublicMetrics serves /metrics without a token.
	PublicMetrics bool `yaml:"public_metrics"`
	// MaxConnections bounds the connections served at once (default
	// DefaultAPIConnections).
	MaxConnections int `yaml:"max_connections"`
}

// APIToken is one bearer token of the API: its name (the actor the audit
// log records), where its value is read from (a file or an environment
// variable; never the value itself in the file), its role (viewer,
// editor or admin) and the project ids it is limited to (none: all).
type APIToken struct {
	Name      string   `yaml:"name"`
	TokenFile string   `yaml:"token_file"`
	TokenEnv  string   `yaml:"token_env"`
	Role      string   `yaml:"role"`
	Projects  []string `yaml:"projects"`
}

// DefaultAPIConnections is api.max_connections' default.
const DefaultAPIConnections = 128

// apiLimits: API requests carry bodies up to api.MaxBodyBytes, and GET
// /api/v1/plan may take as long as a dry run.
var apiLimits = pushLimits{readHeader: 5 * time.Second, read: 30 * time.Second, write: 3 * time.Minute,
	idle: 60 * time.Second, headerBytes: 16 << 10, conns: DefaultAPIConnections}

func (f *File) checkAPI() error {
	a := f.API
	if a.MaxConnections < 0 {
		return f.errorf("api.max_connections", "must not be negative")
	}
	if a.Listen != "" && len(a.Tokens) == 0 {
		return f.errorf("api.tokens", "api.listen needs at least one token")
	}
	for i, t := range a.Tokens {
		key := fmt.Sprintf("api.tokens[%d]", i)
		switch {
		case t.Name == "":
			return f.errorf(key+".name", "required")
		case !api.Role(t.Role).Valid():
			return f.errorf(key+".role", "must be viewer, editor or admin")
		case t.TokenFile == "" && t.TokenEnv == "":
			return f.errorf(key, "needs token_file or token_env")
		case t.TokenFile != "" && t.TokenEnv != "":
			return f.errorf(key, "token_file and token_env are exclusive")
		}
	}
	return nil
}

// APITokens reads the configured API tokens (from their files or
// environment variables).
func (f *File) APITokens() (*api.Tokens, error) {
	var ts []api.Token
	for i, t := range f.API.Tokens {
		key := fmt.Sprintf("api.tokens[%d].token", i)
		v, err := f.secret(key, t.TokenFile, t.TokenEnv)
		if err != nil {
			return nil, err
		}
		ts = append(ts, api.Token{Name: t.Name, Role: api.Role(t.Role), Projects: t.Projects, Value: secret.New(v)})
	}
	tokens, err := api.NewTokens(ts...)
	if err != nil {
		return nil, f.errorf("api.tokens", "%s", err.Error())
	}
	return tokens, nil
}

// APIHandler returns the API of o as the file configures it: its tokens,
// the advisory push at /api/v1/advisories when push has a secret, and the
// orchestrator's logger options.
func (f *File) APIHandler(o *abs.Orchestrator, opts ...api.Option) (http.Handler, error) {
	tokens, err := f.APITokens()
	if err != nil {
		return nil, err
	}
	opts = append([]api.Option{api.WithPublicMetrics(f.API.PublicMetrics)}, opts...)
	if sec, err := f.secret("push.secret", f.Push.SecretFile, f.Push.SecretEnv); err != nil {
		return nil, err
	} else if sec != "" {
		opts = append(opts, api.WithPushSecret(secret.New(sec)))
	}
	return api.New(o, tokens, opts...), nil
}

// ServeAPI serves h (APIHandler's) on ln until ctx ends, with the API's
// timeouts and connection limit.
func (f *File) ServeAPI(ctx context.Context, ln net.Listener, h http.Handler) error {
	lim := apiLimits
	if f.API.MaxConnections > 0 {
		lim.conns = f.API.MaxConnections
	}
	return serve(ctx, ln, h, lim)
}
