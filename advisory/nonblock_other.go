//go:build !unix

package advisory

// nonBlock is not needed where FIFOs cannot be opened as files.
const nonBlock = 0
