//go:build !race

package rpmscan_test

const raceEnabled = false
