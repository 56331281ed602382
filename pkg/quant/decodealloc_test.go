package quant

import (
	"math"
	"runtime"
	"testing"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// A decode step allocates nothing (#9): not the logits (ForwardInto reuses
// them), not the kernels' parallel calls (kernels.Parallel), at one thread
// and at two, on the float and the int8-activation GEMV, for the full
// precision, static 4-bit and test-time 4-bit models. The demo's products
// are too small to split at two threads, so the kernels' own tests cover
// the parallel path with a large n, and BenchmarkDecodeAllocs a full-sized
// model.
func TestDecodeStepAllocatesNothing(t *testing.T) {
	if raceBuild {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	defer kernels.SetThreads(0)
	defer kernels.SetInt8Activations(kernels.SetInt8Activations(false))
	for _, method := range []string{"none", "rtn", "ttq"} {
		m := loadDemo(t)
		if method != "none" {
			o := mustDefault(method)
			o.Format.Group = 32
			apply(t, m, method, o, nil)
		}
		for _, i8 := range []bool{false, true} {
			for _, threads := range []int{1, 2} {
				kernels.SetInt8Activations(i8)
				kernels.SetThreads(threads)
				if got := decodeAllocs(t, m, 8); got != 0 {
					t.Errorf("%s, int8 activations %v, %d threads: %.1f allocations per decode step, want 0", method, i8, threads, got)
				}
			}
		}
		m.Close()
	}
}

// decodeAllocs returns the heap allocations per decode step after a prompt
// and one warm-up step: the fewest of three rounds of steps steps. A round
// can meet a one-time allocation (a free list's first grown slot when two
// workers first overlap in a product, the runtime's own timers); an
// allocation made every step is in every round. Not testing.AllocsPerRun:
// it sets GOMAXPROCS to 1, which would hide the parallel paths'.
func decodeAllocs(t testing.TB, m *model.Model, steps int) float64 {
	t.Helper()
	const prompt, rounds = 2, 3
	toks := demoTokens(prompt+rounds*steps+1, 3)
	for i := range toks {
		toks[i] %= m.Config.VocabSize
	}
	st := m.NewState(len(toks))
	logits, err := m.ForwardInto(nil, st, toks[:prompt], model.LastLogits)
	if err != nil {
		t.Fatal(err)
	}
	step := func(i int) {
		if logits, err = m.ForwardInto(logits, st, toks[i:i+1], model.LastLogits); err != nil {
			t.Fatal(err)
		}
	}
	step(prompt)
	fewest := math.Inf(1)
	for r := range rounds {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range steps {
			step(prompt + 1 + r*steps + i)
		}
		runtime.ReadMemStats(&after)
		fewest = min(fewest, float64(after.Mallocs-before.Mallocs)/float64(steps))
	}
	return fewest
}
