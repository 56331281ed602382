package eval

import (
	"context"
	"runtime"
	"testing"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model/demo"
)

// BenchmarkDemoLlamaCpp measures `ttq eval --protocol llamacpp --ctx 512` on
// the demo model: tokens/s is what the command reports (windows × 512 / s).
// The serial variant runs one window at a time with the kernels' own
// threads; the parallel one runs a window per core, one kernel thread each,
// the CLI's default for small models.
func BenchmarkDemoLlamaCpp(b *testing.B) {
	m, tok, err := demo.Load()
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	txt, _ := WikiText("test", ProtocolLlamaCpp)
	toks, bos, err := TokenizeText(tok, txt.Text[:200000], ProtocolLlamaCpp, BOSAuto)
	if err != nil {
		b.Fatal(err)
	}
	const windows = 8
	w, err := MakeWindows(toks, ProtocolLlamaCpp, 512, windows, bos)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name             string
		workers, threads int
	}{
		{"serial", 1, 0},
		{"parallel", runtime.GOMAXPROCS(0), 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			kernels.SetThreads(c.threads)
			defer kernels.SetThreads(0)
			for b.Loop() {
				if _, err := Perplexity(context.Background(), FromModel(m), w, nil, Options{Workers: c.workers}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*windows*512)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkScoring is the cost of scoring one 512-token llamacpp window
// (255 float64 log-softmaxes over 512 logits) without the model.
func BenchmarkScoring(b *testing.B) {
	logits := make([]float32, 512*512)
	for i := range logits {
		logits[i] = float32(i%97) / 10
	}
	win := randomTokens(512, 512, 1)
	st := &cannedState{logits: logits}
	for b.Loop() {
		if _, err := scoreWindow(st, nil, win, 256, 512, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

type cannedState struct{ logits []float32 }

func (c *cannedState) Forward([]int) ([]float32, error) { return c.logits, nil }
func (c *cannedState) Pos() int                         { return 0 }
func (c *cannedState) Truncate(int)                     {}
