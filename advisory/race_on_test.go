//go:build race

package advisory

// raceEnabled is true under the race detector, which slows parsing some
// tenfold.
const raceEnabled = true
