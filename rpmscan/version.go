package rpmscan

// scannerVersion is the release of LayerScanner's rules (the layer walk,
// the rpmdb readers, the metadata it reads). It changes whenever the same
// image may give a different Inventory, so that inventories stored under
// Name and Version are redone by a new release.
const scannerVersion = "1"

// Name returns "rpmscan", the scanner's name for stored inventories.
func (s *LayerScanner) Name() string { return "rpmscan" }

// Version returns the scanner's release: an inventory stored by another
// release is not reused.
func (s *LayerScanner) Version() string { return scannerVersion }
