// Package api serves openabs as a REST API under /api/v1 (JSON, RFC 7807
// problem documents, an OpenAPI 3.1 document at /api/v1/openapi.json) and
// its metrics at /metrics in the Prometheus text format, as one
// [http.Handler] a portal mounts.
//
// Every request but /metrics and the OpenAPI document carries a bearer token
// (Authorization: Bearer <value>). [Tokens] holds the configured tokens as
// SHA-256 hashes only; each [Token] has a [Role] (viewer reads, editor
// changes the projects it is scoped to, admin everything) and an optional
// list of projects. No token answers 401, a token outside its role or
// projects answers 403 and changes nothing, and every change is made with
// [abs.WithActor] set to the token's name, so the audit log says who.
//
//	tokens, err := api.NewTokens(api.Token{Name: "portal", Role: api.Admin, Value: secret.New(v)})
//	h := api.New(orchestrator, tokens)
//	http.ListenAndServe("127.0.0.1:8080", h)
package api
