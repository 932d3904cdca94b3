// Package console is the orchestrator's web console: an http.Handler a
// portal can mount, server-rendered with html/template, its stylesheet
// embedded in the binary, working with no network access and no
// JavaScript.
//
// Pages:
//   - Fleet (/): every image the user may read with its grade, platforms,
//     next grade drop in days, unapplied Critical and Important advisories
//     and last rebuild state; worst first by default, sortable by any
//     column, filtered by project and grade.
//   - Image (/images/NAME): the freshness grade timeline, past and future,
//     drawn as SVG on the server (go-analyze/charts) with the same data as
//     a table (the dates of each step and the advisories behind it); the
//     findings with their match path (content set → CPE → product → fixed
//     build); unfixed CVEs; the rebuild history with log tails; and, after
//     a dry run, the plan for the image. Editors get "Dry run", "Rebuild
//     now" and "Retry failed rebuilds" buttons.
//   - Configure build service (/configure/NAME): the build-service,
//     auto-rebuild and auto-publish switches (auto-rebuild turns
//     auto-publish on, and the page says so), git URL, ref, Containerfile,
//     context directory, known hosts, owners and floating tags; a
//     write-only SSH key upload (or HTTPS token) shown as its
//     fingerprint; a "Test access" button.
//   - Cycle (/cycles/ID): a cycle's plan, rebuilds and images; it reloads
//     itself while the cycle runs.
//
// Users sign in with the REST API's tokens (api.Tokens) and have the
// API's roles: viewers read, editors and admins of a project also change
// it. Sessions are held server-side and expire (WithSessionTTL); the
// cookie is HttpOnly, SameSite=Strict, and Secure unless the console is
// addressed on loopback (WithSecureCookie). Every form carries the
// session's CSRF token, cross-origin posts are refused, and a post the
// role does not allow gets 403 whatever it carries.
//
//	tokens, err := api.NewTokens(api.Token{Name: "ops", Role: api.Editor, Value: secret.New(v)})
//	if err != nil { … }
//	http.Handle("/console/", http.StripPrefix("/console", console.New(o, tokens, console.WithPrefix("/console"))))
package console
