package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/quant"
)

var update = flag.Bool("update", false, "rewrite testdata/export/awq-tiny (then rerun scripts/golden/export/awq_unpack.py)")

var testTokens = []int{1, 5, 17, 3, 30, 9, 9, 22, 0, 31, 12, 4}

// The AutoAWQ checkpoint read back through ReadAWQ (unpack → dequantize →
// float32 Dense layers, no pkg/quant code) gives the logits of the ttq
// model it was exported from.
func TestAWQRoundTripLogits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spec   tinySpec
		method string
		grid   quant.Grid
		tol    float64
	}{
		{"llama-rtn", awqTinySpec(), "rtn", quant.GridMinMax, 1e-5},
		{"llama-gptq-minmax0", awqTinySpec(), "gptq", quant.GridMinMax0, 1e-5},
		{"llama-sym", awqTinySpec(), "rtn", quant.GridSym, 1e-5},
		{"qwen2-bias-tied", func() tinySpec {
			s := awqTinySpec()
			s.arch, s.bias, s.tied, s.layers = "Qwen2ForCausalLM", true, true, 2
			return s
		}(), "rtn", quant.GridMinMax, 1e-5},
		// AWQ folds its scales into the norms, which AutoAWQ then stores
		// in f16: the logits move by that rounding only.
		{"llama-awq", awqTinySpec(), "awq", quant.GridMinMax, 2e-2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := awqFormat()
			f.Grid = tc.grid
			qm, dir := quantizeTiny(t, tc.spec, tc.method, f)
			want := logits(t, qm, testTokens)
			out := filepath.Join(t.TempDir(), "awq")
			rep, err := WriteAWQ(out, qm, AWQOptions{ConfigJSON: mustRead(t, filepath.Join(dir, "config.json"))})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Quantized != 7*tc.spec.layers {
				t.Errorf("quantized linears = %d, want %d", rep.Quantized, 7*tc.spec.layers)
			}
			am, err := ReadAWQ(out)
			if err != nil {
				t.Fatal(err)
			}
			defer am.Close()
			got := logits(t, am, testTokens)
			d, mx := maxAbsDiff(got, want)
			if d > tc.tol*mx {
				t.Errorf("max |Δlogit| = %.3g (max |logit| %.3g), want ≤ %.1g relative", d, mx, tc.tol)
			}
			// Every weight read back equals ttq's dequantized weight.
			for _, s := range qm.Sites()[:7] {
				ql, _ := qm.Linear(s)
				al, _ := am.Linear(s)
				want := ql.(*quant.QLinear).Dequantize()
				w := al.(*model.Dense).W
				row := make([]float32, w.Cols)
				for r := 0; r < w.Rows; r++ {
					w.Row(row, r)
					for c, v := range row {
						if v != want[r*w.Cols+c] {
							t.Fatalf("%s[%d][%d] = %v, ttq has %v", s, r, c, v, want[r*w.Cols+c])
						}
					}
				}
			}
		})
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A layer of 8 outputs whose codes at input 0 are the output index: the
// first int32 of qweight holds, in nibble slot p, output ORDER[p] =
// [0,2,4,6,1,3,5,7][p] (AutoAWQ gemm.py from_linear), i.e. 0x75316420.
func TestPackAWQHandDerived(t *testing.T) {
	q := quant.NewQLinear(awqFormat(), 8, 256)
	for r := 0; r < 8; r++ {
		codes := make([]uint8, 256)
		for i := range codes {
			codes[i] = uint8((r + i) % 16)
		}
		q.SetRow(r, codes, []float32{0.5, 0.25}, []int32{int32(r), int32(15 - r)})
	}
	qw, qz, sc := PackAWQ(q)
	if got := binary.LittleEndian.Uint32(qw); got != 0x75316420 {
		t.Errorf("qweight[0][0] = %#08x, want 0x75316420", got)
	}
	// Input 1: codes r+1 → slots hold 1,3,5,7,2,4,6,8.
	if got := binary.LittleEndian.Uint32(qw[4:]); got != 0x86427531 {
		t.Errorf("qweight[1][0] = %#08x, want 0x86427531", got)
	}
	// Zeros of group 1 are 15−r: slots 15,13,11,9,14,12,10,8.
	if got := binary.LittleEndian.Uint32(qz[4:]); got != 0x8ace9bdf {
		t.Errorf("qzeros[1][0] = %#08x, want 0x8ace9bdf", got)
	}
	// scales [groups, out] f16: 0.5 = 0x3800, 0.25 = 0x3400.
	if binary.LittleEndian.Uint16(sc) != 0x3800 || binary.LittleEndian.Uint16(sc[2*8:]) != 0x3400 {
		t.Errorf("scales = % x", sc[:4])
	}
	codes, zeros, scales, err := UnpackAWQ(qw, qz, sc, 256, 8)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]uint8, 256)
	for r := 0; r < 8; r++ {
		q.Codes(row, r)
		if !bytes.Equal(row, codes[r*256:(r+1)*256]) {
			t.Fatalf("row %d codes differ after unpacking", r)
		}
		if zeros[2*r] != uint8(r) || zeros[2*r+1] != uint8(15-r) || scales[2*r] != 0.5 || scales[2*r+1] != 0.25 {
			t.Fatalf("row %d: zeros %v scales %v", r, zeros[2*r:2*r+2], scales[2*r:2*r+2])
		}
	}
}

func TestCheckAWQRefuses(t *testing.T) {
	w := make([]float32, 16*256)
	for i := range w {
		w[i] = float32(math.Sin(float64(i)))
	}
	mk := func(rows, cols int, f quant.Format) model.Linear {
		q, err := quant.Quantize(w[:rows*cols], rows, cols, f)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	f := awqFormat()
	f3, g64, f32s := f, f, f
	f3.Bits = 3
	g64.Group = 64
	f32s.Scale = quant.ScaleF32
	for _, tc := range []struct {
		l    model.Linear
		want string
	}{
		{mk(16, 256, f3), "3-bit"},
		{mk(16, 256, g64), "group size 64"},
		{mk(16, 256, f32s), "f32 scales"},
		{mk(12, 256, f), "12 outputs"},
		{&model.Dense{W: kernels.NewWeightsF32(16, 256, make([]float32, 16*256))}, "not quantized"},
	} {
		err := CheckAWQ("model.layers.0.mlp.up_proj", tc.l)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "model.layers.0.mlp.up_proj") {
			t.Errorf("CheckAWQ = %v, want an error naming the layer and %q", err, tc.want)
		}
	}
	if err := CheckAWQ("x", mk(16, 256, f)); err != nil {
		t.Errorf("4-bit g128 f16: %v", err)
	}
	// Ragged input widths are refused (the demo's down_proj has 172 inputs).
	ragged := quant.Format{Bits: 4, Group: 128, Grid: quant.GridMinMax, Scale: quant.ScaleF16}
	if err := CheckAWQ("model.layers.0.mlp.down_proj", mk(8, 172, ragged)); err == nil || !strings.Contains(err.Error(), "172 inputs") {
		t.Errorf("ragged: %v", err)
	}
}

// The committed AutoAWQ export of the tiny RTN model, unpacked by
// scripts/golden/export/awq_unpack.py with AutoAWQ's own unpack_awq and
// reverse_awq_order in PyTorch, holds exactly ttq's codes, zeros and
// dequantized weights.
func TestAWQGoldenAutoAWQUnpack(t *testing.T) {
	qm, dir := quantizeTiny(t, awqTinySpec(), "rtn", awqFormat())
	out := filepath.Join(t.TempDir(), "awq")
	if _, err := WriteAWQ(out, qm, AWQOptions{ConfigJSON: mustRead(t, filepath.Join(dir, "config.json"))}); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("..", "..", "..", "testdata", "export", "awq-tiny")
	for _, name := range []string{"model.safetensors", "config.json"} {
		got := mustRead(t, filepath.Join(out, name))
		if *update {
			if err := os.MkdirAll(golden, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(golden, name), got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if want := mustRead(t, filepath.Join(golden, name)); !bytes.Equal(got, want) {
			t.Fatalf("export of the tiny model differs from testdata/export/awq-tiny/%s: rerun with -update and scripts/golden/export/awq_unpack.py", name)
		}
	}
	var g struct {
		Reference string `json:"reference"`
		Layers    map[string]struct {
			Shape         []int     `json:"shape"`
			CodesSHA256   string    `json:"codes_sha256"`
			ZerosSHA256   string    `json:"zeros_sha256"`
			WeightsSHA256 string    `json:"weights_sha256"`
			First         []float32 `json:"first"`
		} `json:"layers"`
	}
	readJSON(t, filepath.Join("..", "..", "..", "testdata", "export", "awq-tiny.golden.json"), &g)
	if len(g.Layers) != 7 {
		t.Fatalf("golden has %d layers, want 7", len(g.Layers))
	}
	for _, s := range qm.Sites()[:7] {
		gl, ok := g.Layers[s.String()]
		if !ok {
			t.Fatalf("golden lacks %s", s)
		}
		l, _ := qm.Linear(s)
		q := l.(*quant.QLinear)
		if len(gl.Shape) != 2 || gl.Shape[0] != q.Rows || gl.Shape[1] != q.Cols {
			t.Errorf("%s: golden shape %v, ttq [%d %d]", s, gl.Shape, q.Rows, q.Cols)
		}
		codes := make([]byte, q.Rows*q.Cols)
		for r := 0; r < q.Rows; r++ {
			q.Codes(codes[r*q.Cols:(r+1)*q.Cols], r)
		}
		zeros := make([]byte, 0, q.Rows*q.Cols/AWQGroup)
		for r := 0; r < q.Rows; r++ {
			for gi := 0; gi < q.Cols/AWQGroup; gi++ {
				zeros = append(zeros, byte(zeroOf(q, r, gi)))
			}
		}
		w := q.Dequantize()
		wb := make([]byte, 4*len(w))
		for i, v := range w {
			binary.LittleEndian.PutUint32(wb[4*i:], math.Float32bits(v))
		}
		for _, c := range []struct{ what, got, want string }{
			{"codes", sha(codes), gl.CodesSHA256},
			{"zeros", sha(zeros), gl.ZerosSHA256},
			{"dequantized weights", sha(wb), gl.WeightsSHA256},
		} {
			if c.got != c.want {
				t.Errorf("%s %s: sha256 %s, AutoAWQ unpacking gives %s", s, c.what, c.got, c.want)
			}
		}
		for i, v := range gl.First {
			if w[i] != v {
				t.Errorf("%s weight %d = %v, AutoAWQ unpacking gives %v", s, i, w[i], v)
			}
		}
	}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
