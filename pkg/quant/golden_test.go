package quant

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// golden holds the outputs of scripts/golden/quant/ref_quant.py, plain
// PyTorch implementations of the reference procedures.
type golden struct {
	RTNW []float32 `json:"rtn_w"`
	RTN  []struct {
		Bits, Group int
		Grid        string
		Deq         []float32
		Codes       []int
	} `json:"rtn"`
	GPTQW      []float64   `json:"gptq_w"`
	GPTQX      [][]float64 `json:"gptq_x"`
	GPTQRows   int         `json:"gptq_rows"`
	GPTQCols   int         `json:"gptq_cols"`
	GPTQTokens int         `json:"gptq_tokens"`
	GPTQ       []struct {
		Bits, Group           int
		Sym, ActOrder, Static bool
		BlockSize             int
		Deq                   []float64
	} `json:"gptq"`
	AWQW []float32 `json:"awq_w"`
	AWQX []float32 `json:"awq_x"`
	AWQ  []struct {
		Bits, Group int
		Duo         bool
		Ratio       int
		Scales      []float32
		Losses      []float64
		Clip        []float32
	} `json:"awq"`
}

func loadGolden(t *testing.T) *golden {
	var g golden
	readTestJSON(t, "testdata/golden.json", &g)
	return &g
}

// readTestJSON decodes a committed golden into v.
func readTestJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// RTN must agree with the reference bit for bit: same grid, same float32
// operation order, round-half-to-even.
func TestGoldenRTN(t *testing.T) {
	g := loadGolden(t)
	rows, cols := 6, 40
	for _, c := range g.RTN {
		grid, err := ParseGrid(c.Grid)
		if err != nil {
			t.Fatal(err)
		}
		f := Format{Bits: c.Bits, Group: c.Group, Grid: grid, Scale: ScaleF32}
		q, err := Quantize(g.RTNW, rows, cols, f)
		if err != nil {
			t.Fatal(err)
		}
		deq := q.Dequantize()
		codes := make([]uint8, cols)
		for r := 0; r < rows; r++ {
			q.Codes(codes, r)
			for i := 0; i < cols; i++ {
				if int(codes[i]) != c.Codes[r*cols+i] || deq[r*cols+i] != c.Deq[r*cols+i] {
					t.Fatalf("%v [%d,%d]: code %d ŵ %g, reference %d %g", f, r, i, codes[i], deq[r*cols+i], c.Codes[r*cols+i], c.Deq[r*cols+i])
				}
			}
		}
	}
}

func gptqHessian(xs [][]float64, tokens, cols int) []float64 {
	h := testHessian(cols)
	for _, x := range xs {
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
		}
		h.add(x32, tokens)
		h.n++
	}
	return h.matrix()
}

// GPTQ against the float64 reference: the Go code works in float64 but
// fits and rounds on the float32 grid, and its inputs passed through
// float32, so a code can flip where the reference sits on a rounding tie;
// anything beyond a handful of flips is a real difference.
func TestGoldenGPTQ(t *testing.T) {
	g := loadGolden(t)
	rows, cols := g.GPTQRows, g.GPTQCols
	w := make([]float32, len(g.GPTQW))
	for i, v := range g.GPTQW {
		w[i] = float32(v)
	}
	// The reference's inputs are float64; ours pass through float32, as the
	// model's activations do.
	h := gptqHessian(g.GPTQX, g.GPTQTokens, cols)
	for _, c := range g.GPTQ {
		grid := GridMinMax0
		if c.Sym {
			grid = GridSym
		}
		f := Format{Bits: c.Bits, Group: c.Group, Grid: grid, Scale: ScaleF32}
		o := GPTQOptions{Damp: 0.01, BlockSize: c.BlockSize, ActOrder: c.ActOrder, StaticGroups: c.Static}
		q, err := GPTQQuantize(w, rows, cols, append([]float64(nil), h...), f, o)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Validate(); err != nil {
			t.Fatal(err)
		}
		deq := q.Dequantize()
		var diff int
		for i, v := range deq {
			ref := c.Deq[i]
			if e := math.Abs(float64(v) - ref); e > 1e-5*math.Max(1, math.Abs(ref)) {
				diff++
			}
		}
		t.Logf("%v actorder=%v static=%v: %d of %d weights differ", f, c.ActOrder, c.Static, diff, len(deq))
		if diff > 2 {
			t.Errorf("%v actorder=%v static=%v: %d of %d weights differ from the reference", f, c.ActOrder, c.Static, diff, len(deq))
		}
		if (q.GIdx != nil) != (c.ActOrder && !c.Static && c.Group > 0) {
			t.Errorf("g_idx presence wrong: %v", q.GIdx != nil)
		}
	}
}

// AWQ's α grid on one linear (module2inspect = the linear): the same best
// α, scales within float32 pow differences, and the clipping thresholds.
func TestGoldenAWQ(t *testing.T) {
	g := loadGolden(t)
	rows, cols := 16, 72
	ntok := len(g.AWQX) / cols
	feat := &awqFeat{x: g.AWQX, rows: ntok, cols: cols}
	ref := make([]float32, ntok*rows)
	denseF32(g.AWQW, rows, cols, nil).Forward(ref, g.AWQX, ntok)
	for _, c := range g.AWQ {
		f := Format{Bits: c.Bits, Group: c.Group, Grid: GridMinMax, Scale: ScaleF32}
		o := DefaultAWQOptions()
		o.DuoScaling = c.Duo
		xMean := meanAbs(feat)
		wMean := awqWeightMean(g.AWQW, rows, cols, f.GroupSize(cols))
		var losses []float64
		s, alpha, err := awqSearch(xMean, wMean, o, func(s []float32) (float64, error) {
			wq := fakeQuantScaled(g.AWQW, rows, cols, s, f, false)
			y := make([]float32, ntok*rows)
			denseF32(wq, rows, cols, nil).Forward(y, g.AWQX, ntok)
			var sum float64
			for i := range y {
				d := float64(ref[i]) - float64(y[i])
				sum += d * d
			}
			losses = append(losses, sum/float64(len(y)))
			return sum / float64(len(y)), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if int(math.Round(float64(alpha)*20)) != c.Ratio {
			t.Errorf("%v duo=%v: best α = %g, reference %d/20 (losses %v vs %v)", f, c.Duo, alpha, c.Ratio, losses, c.Losses)
		}
		for i := range losses {
			if math.Abs(losses[i]-c.Losses[i]) > 1e-3*c.Losses[i] {
				t.Errorf("%v duo=%v: loss[%d] = %g, reference %g", f, c.Duo, i, losses[i], c.Losses[i])
			}
		}
		for i := range s {
			if math.Abs(float64(s[i]-c.Scales[i])) > 1e-5*math.Abs(float64(c.Scales[i])) {
				t.Fatalf("scale[%d] = %g, reference %g", i, s[i], c.Scales[i])
			}
		}
		// Clipping search on the scaled weights and inputs, with the
		// reference's scales so both start from the same numbers.
		ws := make([]float32, len(g.AWQW))
		for r := 0; r < rows; r++ {
			for j := 0; j < cols; j++ {
				ws[r*cols+j] = g.AWQW[r*cols+j] * c.Scales[j]
			}
		}
		xs := make([]float32, len(g.AWQX))
		for r := 0; r < ntok; r++ {
			for j := 0; j < cols; j++ {
				xs[r*cols+j] = g.AWQX[r*cols+j] / c.Scales[j]
			}
		}
		clipped := append([]float32(nil), ws...)
		awqClip(clipped, rows, cols, &awqFeat{x: xs, rows: ntok, cols: cols}, f, o)
		ng := f.NumGroups(cols)
		gs := f.GroupSize(cols)
		for r := 0; r < rows; r++ {
			for gi := 0; gi < ng; gi++ {
				mv := float64(c.Clip[r*ng+gi])
				var got float64
				for j := gi * gs; j < min((gi+1)*gs, cols); j++ {
					got = math.Max(got, math.Abs(float64(clipped[r*cols+j])))
				}
				if math.Abs(got-mv) > 1e-5*mv {
					t.Errorf("%v row %d group %d: clipped to %g, reference threshold %g", f, r, gi, got, mv)
				}
			}
		}
	}
}
