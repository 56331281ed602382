// Command ttq quantizes Llama-family language models and measures what the
// quantization costs in quality and buys in speed.
package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is the heap growth ttq runs with unless GOGC says otherwise.
// Its working sets are large pointer-free float32/float64 slices, which the
// collector marks almost for free, so a tighter goal than Go's 100 costs
// no measurable time and keeps peak RSS near the live data: GPTQ on one
// TinyLlama-shaped layer peaked at 1.26 GB with 100 and 0.90 GB with 50 in
// the same time (scripts/calibbench -methods forward,gptq, run with and
// without GOGC=100; it applies the same setting).
const gcPercent = 50

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	os.Exit(run(os.Args[1:], systemStreams()))
}
