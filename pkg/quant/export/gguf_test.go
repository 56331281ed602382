package export

import (
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gguf "github.com/gpustack/gguf-parser-go"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

func demoVocab(t testing.TB, m *model.Model) *Vocab {
	t.Helper()
	tj, err := demo.ReadFile("tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	tc, _ := demo.ReadFile("tokenizer_config.json")
	v, err := VocabFromTokenizerJSON(tj, tc, m.Config.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// parsed is a GGUF file as gguf-parser-go (not ttq) reads it.
type parsed struct {
	f    *gguf.GGUFFile
	path string
}

func parseGGUF(t testing.TB, path string) parsed {
	t.Helper()
	f, err := gguf.ParseGGUFFile(path)
	if err != nil {
		t.Fatalf("gguf-parser-go: %v", err)
	}
	return parsed{f, path}
}

func (p parsed) kv(t testing.TB, key string) gguf.GGUFMetadataKV {
	t.Helper()
	kv, ok := p.f.Header.MetadataKV.Get(key)
	if !ok {
		t.Fatalf("gguf-parser-go finds no key %s", key)
	}
	return kv
}

// data returns a tensor's bytes, located by the parser's offsets.
func (p parsed) data(t testing.TB, ti gguf.GGUFTensorInfo, n int) []byte {
	t.Helper()
	f, err := os.Open(p.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, p.f.TensorDataStartOffset+int64(ti.Offset)); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

// rowsOf returns the float32 rows a GGUF tensor must hold for the model:
// the tensor's HF source, with llama's q/k rows permuted as
// convert_hf_to_gguf.py LlamaModel.permute does (checked against the RoPE
// identity in TestHeadPermRoPE).
func expectedRows(t testing.TB, m *model.Model, arch, name string) (rows, cols int, row func([]float32, int)) {
	t.Helper()
	names := map[string]string{"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
		"attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
	switch name {
	case "token_embd.weight":
		return m.Embed.Rows, m.Embed.Cols, m.Embed.Row
	case "output.weight":
		d := m.LMHead.(*model.Dense)
		return d.W.Rows, d.W.Cols, d.W.Row
	case "output_norm.weight":
		return 1, len(m.Norm), func(dst []float32, _ int) { copy(dst, m.Norm) }
	}
	var l int
	var rest string
	if _, err := fmtSscanf(name, &l, &rest); err != nil {
		return 0, 0, nil
	}
	ly := &m.Layers[l]
	vec := func(v []float32) (int, int, func([]float32, int)) {
		return 1, len(v), func(dst []float32, _ int) { copy(dst, v) }
	}
	switch rest {
	case "attn_norm.weight":
		return vec(ly.AttnNorm)
	case "ffn_norm.weight":
		return vec(ly.MLPNorm)
	case "attn_q_norm.weight":
		return vec(ly.Attn.QNorm)
	case "attn_k_norm.weight":
		return vec(ly.Attn.KNorm)
	}
	base, suffix, _ := strings.Cut(rest, ".")
	lin, err := m.Linear(model.Site{Layer: l, Name: names[base]})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	d := lin.(*model.Dense)
	heads := 0
	if arch == "llama" && base == "attn_q" {
		heads = m.Config.NumHeads
	} else if arch == "llama" && base == "attn_k" {
		heads = m.Config.NumKVHeads
	}
	perm := func(r int) int { return r }
	if heads > 0 {
		hd := d.Out() / heads
		// Rows viewed as (heads, 2, hd/2), inner axes swapped: row
		// h·hd + 2i + j comes from h·hd + j·hd/2 + i.
		perm = func(r int) int { h, k := r/hd, r%hd; return h*hd + (k%2)*(hd/2) + k/2 }
	}
	if suffix == "bias" {
		return vec(permuted(d.Bias, perm))
	}
	return d.W.Rows, d.W.Cols, func(dst []float32, r int) { d.W.Row(dst, perm(r)) }
}

func permuted(v []float32, perm func(int) int) []float32 {
	out := make([]float32, len(v))
	for i := range out {
		out[i] = v[perm(i)]
	}
	return out
}

// checkGGUF parses path with gguf-parser-go and checks every tensor (name,
// type, dims, offset) against the report and the model, decoding its data
// with DecodeRow, and the hyper-parameter and tokenizer keys.
func checkGGUF(t *testing.T, path string, m *model.Model, v *Vocab, rep *GGUFReport, typ GGMLType) parsed {
	t.Helper()
	p := parseGGUF(t, path)
	h := p.f.Header
	if h.Magic != gguf.GGUFMagicGGUFLe || h.Version != gguf.GGUFVersionV3 {
		t.Fatalf("magic %v version %v", h.Magic, h.Version)
	}
	if int(h.MetadataKVCount) != len(rep.Keys) || len(h.MetadataKV) != len(rep.Keys) {
		t.Errorf("parser finds %d keys, ttq wrote %d", len(h.MetadataKV), len(rep.Keys))
	}
	for _, k := range rep.Keys {
		p.kv(t, k)
	}
	if p.f.TensorDataStartOffset%32 != 0 {
		t.Errorf("tensor data starts at %d, not aligned to 32", p.f.TensorDataStartOffset)
	}
	if int(h.TensorCount) != len(rep.Tensors) || len(p.f.TensorInfos) != len(rep.Tensors) {
		t.Fatalf("parser finds %d tensors, ttq wrote %d", len(p.f.TensorInfos), len(rep.Tensors))
	}
	arch := p.kv(t, "general.architecture").ValueString()
	c := m.Config
	for k, want := range map[string]uint32{
		".block_count": uint32(c.NumLayers), ".embedding_length": uint32(c.HiddenSize), ".feed_forward_length": uint32(c.IntermediateSize),
		".attention.head_count": uint32(c.NumHeads), ".attention.head_count_kv": uint32(c.NumKVHeads),
		".context_length": uint32(c.MaxPositions), ".rope.dimension_count": uint32(c.HeadDim), ".vocab_size": uint32(c.VocabSize),
		".attention.key_length": uint32(c.HeadDim),
	} {
		if got := p.kv(t, arch+k).ValueUint32(); got != want {
			t.Errorf("%s%s = %d, want %d", arch, k, got, want)
		}
	}
	if got := p.kv(t, arch+".rope.freq_base").ValueFloat32(); got != float32(c.Rope.Theta) {
		t.Errorf("rope.freq_base = %v, want %v", got, c.Rope.Theta)
	}
	if got := p.kv(t, arch+".attention.layer_norm_rms_epsilon").ValueFloat32(); got != float32(c.RMSNormEps) {
		t.Errorf("rms eps = %v, want %v", got, c.RMSNormEps)
	}
	if got := p.kv(t, "general.file_type").ValueUint32(); got != typ.fileType() {
		t.Errorf("file_type = %d, want %d", got, typ.fileType())
	}
	toks := p.kv(t, "tokenizer.ggml.tokens").ValueArray()
	if int(toks.Len) != c.VocabSize {
		t.Errorf("%d tokens, want %d", toks.Len, c.VocabSize)
	}
	for i, s := range toks.ValuesString() {
		// gguf-parser-go trims Unicode spaces off every string it reads
		// (bytes.TrimSpace in ReadString), so "\u00a0" comes back empty.
		if s != strings.TrimSpace(v.Tokens[i]) {
			t.Fatalf("token %d = %q, want %q", i, s, v.Tokens[i])
		}
	}
	for i, ty := range p.kv(t, "tokenizer.ggml.token_type").ValueArray().ValuesInt32() {
		if ty != v.Types[i] {
			t.Fatalf("token_type %d = %d, want %d", i, ty, v.Types[i])
		}
	}
	if got := p.kv(t, "tokenizer.ggml.model").ValueString(); got != v.Model {
		t.Errorf("tokenizer.ggml.model = %q, want %q", got, v.Model)
	}
	if got := p.kv(t, "tokenizer.ggml.pre").ValueString(); got != v.Pre {
		t.Errorf("tokenizer.ggml.pre = %q, want %q", got, v.Pre)
	}

	var prevEnd uint64
	for i, ti := range p.f.TensorInfos {
		r := rep.Tensors[i]
		if ti.Name != r.Name || uint32(ti.Type) != typeOf(t, r.Type) || ti.Offset != r.Offset || !equalU64(ti.Dimensions, r.Dims) || int(ti.NDimensions) != len(r.Dims) {
			t.Errorf("tensor %d: parser sees %s %v %v @%d, ttq wrote %s %s %v @%d", i, ti.Name, ti.Type, ti.Dimensions, ti.Offset, r.Name, r.Type, r.Dims, r.Offset)
		}
		if ti.Offset%32 != 0 || ti.Offset < prevEnd {
			t.Errorf("%s: offset %d unaligned or overlapping (previous end %d)", ti.Name, ti.Offset, prevEnd)
		}
		prevEnd = ti.Offset + r.Bytes
		rows, cols, src := expectedRows(t, m, arch, ti.Name)
		if src == nil {
			continue
		}
		gt := GGMLType(ti.Type)
		if uint64(cols) != ti.Dimensions[0] || (len(ti.Dimensions) == 2 && uint64(rows) != ti.Dimensions[1]) {
			t.Errorf("%s: dims %v, model has [%d rows × %d]", ti.Name, ti.Dimensions, rows, cols)
			continue
		}
		wantType := typ
		if len(ti.Dimensions) == 1 {
			wantType = TypeF32
		} else if typ.Quantized() && cols%32 != 0 {
			wantType = TypeF16
		}
		if gt != wantType {
			t.Errorf("%s: type %s, want %s", ti.Name, gt, wantType)
		}
		data := p.data(t, ti, rows*gt.RowBytes(cols))
		got, want := make([]float32, cols), make([]float32, cols)
		for rr := 0; rr < rows; rr++ {
			if err := DecodeRow(got, data[rr*gt.RowBytes(cols):], gt); err != nil {
				t.Fatal(err)
			}
			src(want, rr)
			if !withinBlockError(got, want, gt) {
				t.Fatalf("%s row %d: decoded %v… differs from the model's %v… beyond %s rounding", ti.Name, rr, got[:4], want[:4], gt)
			}
		}
	}
	return p
}

// withinBlockError bounds the rounding error of each type: exact for F32,
// half an f16 ulp for F16, and per 32-block half a step plus the f16
// rounding of the step for Q8_0 (a whole step for Q4_0, whose codes
// reach −8 but only +7 steps).
func withinBlockError(got, want []float32, typ GGMLType) bool {
	switch typ {
	case TypeF32:
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	case TypeF16:
		for i := range got {
			if got[i] != f16(want[i]) {
				return false
			}
		}
		return true
	}
	levels := 127.0
	if typ == TypeQ4_0 {
		levels = 8
	}
	for b := 0; b < len(got); b += QK {
		var amax float64
		for _, w := range want[b : b+QK] {
			amax = max(amax, math.Abs(float64(w)))
		}
		step := amax / levels
		for i := b; i < b+QK; i++ {
			// Q4_0 codes reach only +7 steps, so +amax may be cut by a step.
			// levels·2⁻²⁵: d below f16's normal range is rounded to a subnormal.
			tol := step*0.5*(1+2e-3) + 1e-3*math.Abs(float64(want[i])) + levels*0x1p-25
			if typ == TypeQ4_0 {
				tol = step*1.001 + levels*0x1p-25
			}
			if math.Abs(float64(got[i]-want[i])) > tol {
				return false
			}
		}
	}
	return true
}

func typeOf(t testing.TB, s string) uint32 {
	g, err := ParseGGMLType(s)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(g)
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestGGUFDemoAllTypes(t *testing.T) {
	m, _, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v := demoVocab(t, m)
	for _, typ := range []GGMLType{TypeF32, TypeF16, TypeQ8_0, TypeQ4_0} {
		t.Run(typ.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "demo.gguf")
			rep, err := WriteGGUF(path, m, v, GGUFOptions{Type: typ, Name: "stories260K"})
			if err != nil {
				t.Fatal(err)
			}
			p := checkGGUF(t, path, m, v, rep, typ)
			// 5 layers × (2 norms + 7 matrices) + embedding + final norm;
			// the LM head is tied to the embedding.
			if len(rep.Tensors) != 5*9+2 {
				t.Errorf("%d tensors, want 47", len(rep.Tensors))
			}
			if typ.Quantized() {
				if q := p.kv(t, "general.quantization_version").ValueUint32(); q != 2 {
					t.Errorf("quantization_version = %d", q)
				}
				// down_proj has 172 inputs: it stays F16, and says so.
				for _, tr := range rep.Tensors {
					if strings.HasSuffix(tr.Name, "ffn_down.weight") && (tr.Type != "F16" || !strings.Contains(tr.Note, "172")) {
						t.Errorf("%s: %s %q, want F16 with a note", tr.Name, tr.Type, tr.Note)
					}
				}
			}
			if st, err := os.Stat(path); err != nil || st.Size() != rep.Bytes {
				t.Errorf("file size %v, report %d (%v)", st.Size(), rep.Bytes, err)
			}
			if a := p.f.Architecture(); a.Architecture != "llama" {
				t.Errorf("gguf-parser-go architecture %q", a.Architecture)
			}
			tk := p.f.Tokenizer()
			if tk.Model != "llama" || tk.TokensLength != 512 || tk.BOSTokenID != 1 || tk.EOSTokenID != 2 {
				t.Errorf("gguf-parser-go tokenizer %+v", tk)
			}
		})
	}
}

// A GGUF of every tiny architecture: names (q/k norms, biases, rope_freqs,
// tied output), hyper-parameters and data as gguf-parser-go reads them.
func TestGGUFTinyArchitectures(t *testing.T) {
	for _, tc := range []struct {
		dir, arch string
		want      []string // tensors that must be present
		absent    []string
		keys      map[string]any
	}{
		{"tiny-llama2", "llama", []string{"output.weight"}, nil, nil},
		{"tiny-llama3", "llama", []string{"rope_freqs.weight"}, []string{"output.weight"}, nil},
		{"tiny-mistral", "llama", []string{"output.weight"}, nil, map[string]any{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": float32(2)}},
		{"tiny-qwen2", "qwen2", []string{"blk.0.attn_q.bias", "blk.1.attn_v.bias"}, []string{"output.weight", "blk.0.attn_output.bias"}, nil},
		{"tiny-qwen3", "qwen3", []string{"blk.0.attn_q_norm.weight", "blk.1.attn_k_norm.weight"}, []string{"output.weight"}, nil},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			m, err := model.Load(filepath.Join("..", "..", "..", "testdata", "models", tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			v, err := VocabFromTokenizerJSON(byteLevelTokenizer(tokenizer.Llama3Pattern, false), nil, m.Config.VocabSize)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.gguf")
			rep, err := WriteGGUF(path, m, v, GGUFOptions{Type: TypeQ8_0, Name: tc.dir})
			if err != nil {
				t.Fatal(err)
			}
			p := checkGGUF(t, path, m, v, rep, TypeQ8_0)
			if got := p.kv(t, "general.architecture").ValueString(); got != tc.arch {
				t.Errorf("architecture %q, want %q", got, tc.arch)
			}
			names := map[string]bool{}
			for _, ti := range p.f.TensorInfos {
				names[ti.Name] = true
			}
			for _, n := range tc.want {
				if !names[n] {
					t.Errorf("no tensor %s", n)
				}
			}
			for _, n := range tc.absent {
				if names[n] {
					t.Errorf("unexpected tensor %s", n)
				}
			}
			for k, want := range tc.keys {
				kv := p.kv(t, k)
				if kv.Value != want {
					t.Errorf("%s = %v (%T), want %v", k, kv.Value, kv.Value, want)
				}
			}
			if tc.dir == "tiny-llama3" {
				checkRopeFreqs(t, p, m.Config)
			}
			if tc.dir == "tiny-mistral" && !strings.Contains(strings.Join(rep.Notes, " "), "sliding_window 32") {
				t.Errorf("notes %q lack the sliding window", rep.Notes)
			}
		})
	}
}

// rope_freqs.weight divides the default inverse frequencies into Llama
// 3.1's: default/factor must equal model.Rope.InvFreq, which is checked
// against transformers by the forward-pass goldens.
func checkRopeFreqs(t *testing.T, p parsed, c model.Config) {
	for _, ti := range p.f.TensorInfos {
		if ti.Name != "rope_freqs.weight" {
			continue
		}
		b := p.data(t, ti, 4*int(ti.Dimensions[0]))
		want := c.Rope.InvFreq(c.HeadDim)
		for i := range want {
			f := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			def := 1 / math.Pow(c.Rope.Theta, float64(2*i)/float64(c.HeadDim))
			if got := def / float64(f); math.Abs(got-want[i]) > 1e-6*want[i] {
				t.Errorf("freq %d: %g / %g = %g, transformers' llama3 inv_freq %g", i, def, f, got, want[i])
			}
		}
		return
	}
	t.Error("no rope_freqs.weight")
}

// The llama-arch permutation is what makes ggml's adjacent-pair RoPE equal
// HF's rotate-half RoPE: rotating the permuted rows pairwise gives the
// rotate-half result of the original rows, interleaved.
func TestHeadPermRoPE(t *testing.T) {
	const hd = 8
	if got := []int{headPerm(0, hd), headPerm(1, hd), headPerm(2, hd), headPerm(3, hd), headPerm(9, hd)}; got[0] != 0 || got[1] != 4 || got[2] != 1 || got[3] != 5 || got[4] != 12 {
		t.Fatalf("headPerm = %v, want [0 4 1 5 12]", got)
	}
	q := []float64{0.3, -1.2, 0.7, 2.0, -0.4, 0.9, 1.1, -0.6}
	pos := 5.0
	theta := func(i int) float64 { return pos * math.Pow(10000, -2*float64(i)/hd) }
	hf := make([]float64, hd)
	for i := 0; i < hd/2; i++ {
		c, s := math.Cos(theta(i)), math.Sin(theta(i))
		hf[i] = q[i]*c - q[i+hd/2]*s
		hf[i+hd/2] = q[i+hd/2]*c + q[i]*s
	}
	for i := 0; i < hd/2; i++ {
		a, b := q[headPerm(2*i, hd)], q[headPerm(2*i+1, hd)]
		c, s := math.Cos(theta(i)), math.Sin(theta(i))
		if x, y := a*c-b*s, a*s+b*c; math.Abs(x-hf[i]) > 1e-12 || math.Abs(y-hf[i+hd/2]) > 1e-12 {
			t.Errorf("pair %d: ggml (%g, %g), HF (%g, %g)", i, x, y, hf[i], hf[i+hd/2])
		}
	}
}
