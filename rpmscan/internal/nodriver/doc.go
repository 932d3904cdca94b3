// Package nodriver holds rpmscan tests that must run in a program where no
// database/sql driver named "sqlite" is registered. Its test binary links
// rpmscan but not rpmscan/sqlitedriver; nothing else lives here.
package nodriver
