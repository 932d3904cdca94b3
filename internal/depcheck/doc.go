// Package depcheck holds no code: its test reads the module's import graph
// and fails when a package imports what its layer must not (a leaf package
// reaching into another, or pulling in the job engine or a database), when
// the root package links a YAML library or an SQL driver, and when an
// example imports an internal package.
package depcheck
