// Package depcheck holds no code: its test reads the module's import graph
// and fails when a package imports what its layer must not (a leaf package
// reaching into another, or pulling in the job engine or a database).
package depcheck
