//go:build unix

package kernels

import (
	"testing"
	"time"
)

// The pool's workers spin for spinFor after a call and then sleep: over a
// second with no calls the process burns next to no CPU. A worker that
// kept spinning would burn about a second per worker.
func TestParallelForWorkersSleepWhenIdle(t *testing.T) {
	if Threads() < 2 {
		t.Skip("one thread: ParallelFor runs on the caller alone")
	}
	var sink [64]int
	ParallelFor(len(sink), 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sink[i] = i
		}
	})
	time.Sleep(10 * spinFor) // past the spin
	c0 := cpuSeconds()
	if c0 < 0 {
		t.Skip("no getrusage")
	}
	time.Sleep(time.Second)
	if used := cpuSeconds() - c0; used > 0.2 {
		t.Fatalf("%.2f s of CPU over an idle second: the pool's workers did not go to sleep", used)
	}
}
