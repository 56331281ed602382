package demo

import (
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
)

// BenchmarkDecode measures single-token decoding of the demo model.
func BenchmarkDecode(b *testing.B) {
	m, _, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	st := m.NewState(m.Config.MaxPositions)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st.Pos() == st.Capacity() {
			st.Reset()
		}
		if _, err := m.Forward(st, []int{i % m.Config.VocabSize}, model.LastLogits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkPrefill512 measures a batched forward pass over a full window,
// as perplexity evaluation runs it.
func BenchmarkPrefill512(b *testing.B) {
	m, _, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	toks := make([]int, 512)
	for i := range toks {
		toks[i] = (i * 37) % m.Config.VocabSize
	}
	st := m.NewState(512)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.Reset()
		if _, err := m.Forward(st, toks, model.AllLogits); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(512*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
