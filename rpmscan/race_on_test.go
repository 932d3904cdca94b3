//go:build race

package rpmscan_test

// raceEnabled is true under the race detector, which slows sqlite (pure
// Go) and hashing some fiftyfold.
const raceEnabled = true
