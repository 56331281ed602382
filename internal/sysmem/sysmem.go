// Package sysmem reports how much memory the machine can give a process
// without swapping, so that commands can refuse a run that would not fit
// instead of being killed half-way through it.
package sysmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Available returns the kernel's estimate of the memory available for new
// allocations (Linux: MemAvailable in /proc/meminfo) in bytes, and false
// where it is unknown.
func Available() (int64, bool) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	return parseMeminfo(b)
}

func parseMeminfo(b []byte) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemAvailable:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil || kb < 0 {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}

// Check refuses a run whose buffers (need bytes, for what) exceed the
// memory the machine has available, naming the option that shrinks them;
// where the available memory is unknown it lets the run go ahead.
func Check(need int64, what, option string) error {
	avail, ok := Available()
	if !ok || need <= avail {
		return nil
	}
	return fmt.Errorf("%s need %.2f GiB but only %.2f GiB of memory is available: lower %s", what, gib(need), gib(avail), option)
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }
