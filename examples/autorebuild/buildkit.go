package main

import (
	"github.com/openabs/abs/buildkit"
	"github.com/openabs/abs/config"
	"github.com/openabs/abs/rebuild"
)

// newBuildKit wires "builder: {kind: buildkit}": a pool of the configured
// daemons and a builder over it.
func newBuildKit(c config.BuildKit) (rebuild.Builder, error) {
	var daemons []buildkit.Daemon
	for _, d := range c.Daemons {
		bd := buildkit.Daemon{Address: d.Address, MaxBuilds: d.MaxBuilds}
		if d.CACert != "" {
			bd.TLS = &buildkit.TLS{CACert: d.CACert, Cert: d.Cert, Key: d.Key, ServerName: d.ServerName}
		}
		daemons = append(daemons, bd)
	}
	var popts []buildkit.Option
	if c.Logger != nil {
		popts = append(popts, buildkit.WithLogger(c.Logger))
	}
	pool, err := buildkit.NewPool(daemons, popts...)
	if err != nil {
		return nil, err
	}
	return &buildkit.Builder{Pool: pool, Credentials: c.Credentials, InsecureHosts: c.InsecureHosts, Cache: c.Cache,
		Options: c.Options, Logger: c.Logger}, nil
}
