// Package api serves an openabs orchestrator as a REST API under /api/v1
// (JSON, RFC 7807 problem documents, catalog-style pagination, an OpenAPI
// 3.1 document at /api/v1/openapi.json) and its metrics at /metrics in the
// Prometheus text format, as one [http.Handler] a portal mounts ([New]).
//
// Every route but the OpenAPI document and the advisory push (which has
// its own shared secret, [WithPushSecret]) needs a bearer token
// (Authorization: Bearer <value>); /metrics too unless
// [WithPublicMetrics]. [Tokens] holds the configured tokens as SHA-256
// hashes only and compares in constant time; each [Token] has a [Role]
// (viewer reads, editor changes the projects it is scoped to, admin
// everything, including creating and deleting projects and reading the
// audit log) and an optional list of project ids. No or a wrong token
// answers 401 with WWW-Authenticate, a token outside its role or projects
// answers 403 and changes nothing, and every change is made with
// [abs.WithActor] set to the token's name, so the audit log says who.
//
// Bodies are bounded ([MaxBodyBytes], 413 beyond) and unknown fields are
// refused (400). Changes answer with an ETag holding the object's version;
// sent back as If-Match (or "version" in the body) it makes a concurrent
// change answer 409 instead of being overwritten.
//
//	tokens, err := api.NewTokens(api.Token{Name: "portal", Role: api.Admin, Value: secret.New(v)})
//	h := api.New(orchestrator, tokens)
//	http.ListenAndServe("127.0.0.1:8080", h)
package api
