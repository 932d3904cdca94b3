//go:build !unix

package advisory

import "time"

func cpuTime() time.Duration { return 0 }
