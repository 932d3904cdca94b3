// Package config reads the YAML file of a long-running openabs
// orchestrator and wires the orchestrator it describes: the state database
// (SQLite or PostgreSQL), advisory sources, registries and their
// credentials, builders, publishers (registry, catalog), notifiers (email,
// webhook) and the HTTP endpoint that accepts advisory pushes. It is the
// application half of examples/autorebuild, kept apart from the SDK: it
// uses only the exported API of the root package abs and of the leaf
// packages, so a program of your own can load the same file, or copy
// Open's wiring and change it.
//
// Secrets are never written in the file: each is read from a *_file path
// or from the environment variable a *_env key names. Errors (a *Error)
// name the key at fault and never repeat its value, so a secret written in
// the wrong key does not reach a terminal or a log.
//
//	f, err := config.Load("openabs.yaml")
//	if err != nil { … }
//	o, db, err := f.Open(ctx)
//	if err != nil { … }
//	defer db.Close()
//	if err := o.Start(ctx); err != nil { … }
//	defer o.Stop(context.Background())
//	err = f.Serve(ctx, o) // the push endpoint, until ctx ends
package config
