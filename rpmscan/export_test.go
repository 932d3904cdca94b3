package rpmscan

// SortPackages exposes the inventory order to the external tests.
var SortPackages = sortPackages
