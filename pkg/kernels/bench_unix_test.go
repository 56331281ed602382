//go:build unix

package kernels

import (
	"syscall"
	"time"
)

// cpuSeconds returns the user+system CPU time of this process, or -1 where
// getrusage is unavailable.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
