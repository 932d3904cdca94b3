//go:build !race

package advisory

const raceEnabled = false
