package quant

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// BenchmarkTTQPrefill measures TTQ's calibration overhead: one prefill of
// a 512-token prompt (or the model's context) with TTQ layers, and reports
// the share of it spent computing statistics and quantizing (calib-frac)
// and the prefill time relative to full precision (vs-fp). The demo model
// by default; TTQ_BENCH_MODEL=DIR benchmarks a model directory.
func BenchmarkTTQPrefill(b *testing.B) {
	load := func() *model.Model { return benchModel(b) }
	for _, mode := range []Prefill{PrefillQuantized, PrefillDense} {
		b.Run(mode.String(), func(b *testing.B) {
			fp, tq := load(), load()
			defer fp.Close()
			defer tq.Close()
			o := mustDefault("ttq")
			o.TTQ.Prefill = mode
			apply(b, tq, "ttq", o, nil)
			n := min(512, fp.Config.MaxPositions)
			toks := demoTokens(n, 9)
			for i := range toks {
				toks[i] %= fp.Config.VocabSize
			}
			prefill := func(m *model.Model) time.Duration {
				m.BeginRequest()
				start := time.Now()
				if _, err := m.Forward(m.NewState(n), toks, model.LastLogits); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			// One untimed request each: the first touch of the weights and
			// TTQ's one-time buffers are not a per-request cost.
			prefill(fp)
			prefill(tq)
			var fpTime, tqTime time.Duration
			calib0, _ := TTQStats(tq)
			scales0 := TTQScaleTime(tq)
			for i := 0; i < b.N; i++ {
				fpTime += prefill(fp)
				tqTime += prefill(tq)
			}
			calib, _ := TTQStats(tq)
			// The part of it that made D (statistics and scales); the
			// rest re-quantized.
			b.ReportMetric(float64(TTQScaleTime(tq)-scales0)/float64(fpTime), "scales/fp-prefill")
			// The measure (#9): statistics plus re-quantization as
			// a share of a full-precision prefill of the same tokens. The
			// dense prefill re-quantizes inside the product's workers; its
			// share is their summed time over the thread count
			// (prefillFused), and vs-fp shows the whole cost.
			b.ReportMetric(float64(calib-calib0)/float64(fpTime), "calib/fp-prefill")
			// The calibration's time over the threads, per weight it
			// re-quantized: the in-place rate to compare with
			// BenchmarkRequantRow4G32's.
			b.ReportMetric(float64(calib-calib0)*float64(kernels.Threads())/float64(b.N)/float64(ttqWeights(tq)), "calib-ns/weight/thread")
			b.ReportMetric(float64(tqTime)/float64(fpTime), "vs-fp")
		})
	}
}

// ttqWeights counts the weights of m's TTQ layers.
func ttqWeights(m *model.Model) int {
	n := 0
	for _, t := range ttqLayers(m) {
		n += t.In() * t.Out()
	}
	return n
}

// BenchmarkTTQPow times D from the statistic of 5632 channels (the
// TinyLlama MLP's down projection) at the default α = ½ and at 0.4,
// which goes through math.Pow.
func BenchmarkTTQPow(b *testing.B) {
	st := make([]float64, 5632)
	for i := range st {
		st[i] = float64(i%97) * 13.7
	}
	for _, alpha := range []float64{0.5, 0.4} {
		b.Run(strconv.FormatFloat(alpha, 'g', -1, 64), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				_ = ttqPow(st, alpha, 0.1)
			}
		})
	}
}

func mustDefault(method string) Options {
	o, err := DefaultOptions(method)
	if err != nil {
		panic(err)
	}
	return o
}

// BenchmarkTTQDecode compares TTQ's decode steps (on the weights it
// quantized for the prompt) with static RTN's at the same format (4-bit
// g32 minmax), interleaved: issue #9 asks for TTQ's decode within 5 % of
// the static model's. It reports the TTQ/RTN time per token (ttq/rtn),
// the median over the rounds.
// TTQ_BENCH_MODEL=DIR benchmarks a model directory.
func BenchmarkTTQDecode(b *testing.B) {
	load := func() *model.Model { return benchModel(b) }
	rtn, tq := load(), load()
	defer rtn.Close()
	defer tq.Close()
	ro := mustDefault("rtn")
	ro.Format.Group = 32
	apply(b, rtn, "rtn", ro, nil)
	to := mustDefault("ttq")
	to.TTQ.Prefill = PrefillDense
	apply(b, tq, "ttq", to, nil)
	const prompt, steps = 16, 32
	toks := demoTokens(prompt+steps, 11)
	for i := range toks {
		toks[i] %= rtn.Config.VocabSize
	}
	decode := func(m *model.Model) time.Duration {
		m.BeginRequest()
		st := m.NewState(prompt + steps)
		if _, err := m.Forward(st, toks[:prompt], model.LastLogits); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for _, id := range toks[prompt:] {
			if _, err := m.Forward(st, []int{id}, model.LastLogits); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	decode(rtn)
	decode(tq)
	// The median of the rounds' ratios, each round running the two back
	// to back and every other round TTQ first: on this shared machine
	// RTN's own time per token moved 5.7–9.4 ms between runs, and a ratio
	// of sums took in whatever slowed one round.
	var rt time.Duration
	ratios := make([]float64, b.N)
	for i := range ratios {
		var r, t time.Duration
		if i%2 == 0 {
			r, t = decode(rtn), decode(tq)
		} else {
			t, r = decode(tq), decode(rtn)
		}
		rt += r
		ratios[i] = float64(t) / float64(r)
	}
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ttq/rtn")
	b.ReportMetric(float64(rt.Nanoseconds())/float64(b.N*steps)/1e6, "rtn-ms/token")
}

// benchModel loads TTQ_BENCH_MODEL when it names a model directory, else
// the demo model.
func benchModel(b *testing.B) *model.Model {
	b.Helper()
	if dir := os.Getenv("TTQ_BENCH_MODEL"); dir != "" {
		m, err := model.Load(dir)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	return loadDemo(b)
}

// BenchmarkTTQVariantCalib measures what each test-time variant costs per
// prompt on one linear of a 1024×1024 shape with a 512-token prompt:
// statistics, searches, split and re-quantization, reported against the
// float32 prefill product of the same tokens (calib/matmul). The searches'
// cost is bounded by their grids times SearchTokens (64), not by the
// prompt's length; the per-prompt SVD of LowRankAct is O(Out·In·min).
func BenchmarkTTQVariantCalib(b *testing.B) {
	const rows, cols, n = 1024, 1024, 512
	w, x := make([]float32, rows*cols), make([]float32, n*cols)
	for i := range w {
		w[i] = float32((i*7919)%1000-500) / 5000
	}
	for i := range x {
		x[i] = float32((i*104729)%2000-1000) / 1000
		if i%cols == 17 {
			x[i] *= 20
		}
	}
	f := Format{Bits: 4, Group: 32, Grid: GridMinMax, Scale: ScaleF32}
	d := denseF32(w, rows, cols, nil)
	y := make([]float32, n*rows)
	start := time.Now()
	const reps = 4
	for range reps {
		d.Forward(y, x, n)
	}
	matmul := time.Since(start) / reps
	for _, v := range []struct {
		name string
		mod  func(*TTQOptions)
	}{
		{"plain", nil},
		{"clip", func(o *TTQOptions) { o.Clip = true }},
		{"alpha-grid5", func(o *TTQOptions) { o.AlphaGrid = []float64{0, 0.125, 0.25, 0.375, 0.5} }},
		{"lowrank-act-r16", func(o *TTQOptions) { o.LowRank = LowRankAct }},
	} {
		b.Run(v.name, func(b *testing.B) {
			o := DefaultTTQOptions()
			if v.mod != nil {
				v.mod(&o)
			}
			tl, err := NewTTQLinear(d, f, o)
			if err != nil {
				b.Fatal(err)
			}
			q := tl.newQuantized()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tl.calibrateInto(q, x, n)
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(matmul), "calib/matmul")
		})
	}
}

// BenchmarkDecodeAllocs counts the heap allocations of one decode step
// (issue #9 asks for none), full precision, static RTN and TTQ at 4-bit
// g32, as the
// allocs/step metric. TTQ_BENCH_MODEL=DIR benchmarks a model directory.
func BenchmarkDecodeAllocs(b *testing.B) {
	for _, method := range []string{"none", "rtn", "ttq"} {
		b.Run(method, func(b *testing.B) {
			m := benchModel(b)
			defer m.Close()
			if method != "none" {
				o := mustDefault(method)
				o.Format.Group = 32
				if method == "ttq" {
					o.TTQ.Prefill = PrefillDense
				}
				apply(b, m, method, o, nil)
			}
			var allocs float64
			for b.Loop() {
				allocs = decodeAllocs(b, m, 40)
			}
			b.ReportMetric(allocs, "allocs/step")
		})
	}
}
