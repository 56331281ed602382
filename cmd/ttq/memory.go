package main

import (
	"fmt"

	"github.com/ttqproject/ttq/internal/sysmem"
)

// checkMemory refuses a run whose buffers (need bytes, for what) exceed the
// memory the machine has available, naming the flag that shrinks them;
// where the available memory is unknown it lets the run go ahead.
func checkMemory(need int64, what, flag string) error {
	avail, ok := sysmem.Available()
	if !ok || need <= avail {
		return nil
	}
	return fmt.Errorf("%s need %.2f GiB but only %.2f GiB of memory is available: lower %s", what, gib(need), gib(avail), flag)
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }
