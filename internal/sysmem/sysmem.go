// Package sysmem reports how much memory the machine can give a process
// without swapping, so that commands can refuse a run that would not fit
// instead of being killed half-way through it.
package sysmem

import (
	"bufio"
	"bytes"
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
