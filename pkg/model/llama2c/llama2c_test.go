package llama2c

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/internal/shareddata"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// v0 holds a synthetic llama2.c checkpoint, tensor by tensor, as
// export.py legacy_export writes it.
type v0 struct {
	h    Header
	secs map[string][]float32 // stacked over layers
}

var secOrder = []string{"token_embedding", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final", "freq_cis_real", "freq_cis_imag", "wcls"}

func newV0(h Header, seed uint64) *v0 {
	r := rand.New(rand.NewPCG(seed, 1))
	L, d, hs := h.NLayers, h.Dim, h.Dim/h.NHeads
	kv := hs * h.NKVHeads
	sizes := map[string]int{
		"token_embedding": h.VocabSize * d, "rms_att": L * d, "wq": L * d * d, "wk": L * kv * d,
		"wv": L * kv * d, "wo": L * d * d, "rms_ffn": L * d, "w1": L * h.HiddenDim * d,
		"w2": L * d * h.HiddenDim, "w3": L * h.HiddenDim * d, "rms_final": d,
		"freq_cis_real": h.SeqLen * hs / 2, "freq_cis_imag": h.SeqLen * hs / 2,
	}
	if !h.SharedClassifier {
		sizes["wcls"] = h.VocabSize * d
	}
	m := &v0{h: h, secs: map[string][]float32{}}
	for name, n := range sizes {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		m.secs[name] = v
	}
	return m
}

func (m *v0) bytes() []byte {
	h := m.h
	vocab := int32(h.VocabSize)
	if !h.SharedClassifier {
		vocab = -vocab
	}
	var b bytes.Buffer
	for _, v := range []int32{int32(h.Dim), int32(h.HiddenDim), int32(h.NLayers), int32(h.NHeads), int32(h.NKVHeads), vocab, int32(h.SeqLen)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	for _, name := range secOrder {
		if v, ok := m.secs[name]; ok {
			binary.Write(&b, binary.LittleEndian, v)
		}
	}
	return b.Bytes()
}

// layer returns rows×cols of layer l of a stacked section.
func (m *v0) layer(sec string, l, rows, cols int) []float32 {
	n := rows * cols
	return m.secs[sec][l*n : (l+1)*n]
}

var tiny = Header{Dim: 16, HiddenDim: 24, NLayers: 2, NHeads: 4, NKVHeads: 2, VocabSize: 7, SeqLen: 3}

func writeBin(t testing.TB, dir string, m *v0) string {
	t.Helper()
	p := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(p, m.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readF32(t *testing.T, c *safetensors.Checkpoint, name string) ([]float32, []int64) {
	t.Helper()
	tn, err := c.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	if tn.DType != safetensors.F32 {
		t.Fatalf("%s: dtype %s", name, tn.DType)
	}
	v, err := tn.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v, tn.Shape
}

func TestHFRowSourceHandDerived(t *testing.T) {
	// head_dim 8: HF rows (i, i+4) must be llama2.c's adjacent pair (2i, 2i+1).
	if got := rowMap(8, 8); !slices.Equal(got, []int{0, 2, 4, 6, 1, 3, 5, 7}) {
		t.Errorf("head_dim 8: %v", got)
	}
	// Two heads of 4: the permutation stays inside each head.
	if got := rowMap(8, 4); !slices.Equal(got, []int{0, 2, 1, 3, 4, 6, 5, 7}) {
		t.Errorf("2 heads of 4: %v", got)
	}
	// Three heads of 16 form a bijection.
	seen := map[int]bool{}
	for _, s := range rowMap(48, 16) {
		seen[s] = true
	}
	if len(seen) != 48 {
		t.Errorf("not a permutation: %d distinct rows", len(seen))
	}
}

func rowMap(rows, hd int) []int {
	out := make([]int, rows)
	for r := range out {
		out[r] = hfRowSource(r, hd)
	}
	return out
}

func TestReadHeader(t *testing.T) {
	enc := func(v ...int32) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, v)
		return b.Bytes()
	}
	h, err := ReadHeader(bytes.NewReader(enc(64, 172, 5, 8, 4, -512, 512)))
	if err != nil {
		t.Fatal(err)
	}
	want := Header{Dim: 64, HiddenDim: 172, NLayers: 5, NHeads: 8, NKVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: false}
	if h != want || h.HeadSize() != 8 || h.KVDim() != 32 {
		t.Errorf("got %+v", h)
	}
	bad := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"short", enc(64, 172, 5)[:11], "got 11 of 28"},
		{"zero dim", enc(0, 172, 5, 8, 4, 512, 512), "dim = 0"},
		{"negative layers", enc(64, 172, -5, 8, 4, 512, 512), "n_layers = -5"},
		{"zero vocab", enc(64, 172, 5, 8, 4, 0, 512), "vocab_size = 0"},
		{"min int vocab", enc(64, 172, 5, 8, 4, math.MinInt32, 512), "vocab_size"},
		{"zero kv heads", enc(64, 172, 5, 8, 0, 512, 512), "n_kv_heads = 0"},
		{"heads not dividing dim", enc(64, 172, 5, 6, 3, 512, 512), "does not divide dim"},
		{"kv not dividing heads", enc(64, 172, 5, 8, 3, 512, 512), "does not divide n_heads"},
		{"odd head size", enc(60, 172, 5, 4, 4, 512, 512), "odd"},
		{"huge dim", enc(1<<20, 172, 5, 8, 4, 512, 512), "exceeds the limit"},
		{"huge seq", enc(64, 172, 5, 8, 4, 512, math.MaxInt32), "exceeds the limit"},
		{"text file", []byte("#!/bin/sh\necho this is not a model\n"), "invalid header"},
	}
	for _, c := range bad {
		_, err := ReadHeader(bytes.NewReader(c.b))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "llama2c: ") {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

func TestConvertSynthetic(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run("shared="+strconv.FormatBool(shared), func(t *testing.T) {
			h := tiny
			h.SharedClassifier = shared
			m := newV0(h, 7)
			dir := t.TempDir()
			bin := writeBin(t, dir, m)
			if got := h.FileSize(); got != int64(len(m.bytes())) {
				t.Fatalf("FileSize %d, file %d", got, len(m.bytes()))
			}
			out := filepath.Join(dir, "hf")
			got, err := Convert(bin, out)
			if err != nil {
				t.Fatal(err)
			}
			if got != h {
				t.Errorf("header %+v, want %+v", got, h)
			}
			checkConfig(t, filepath.Join(out, "config.json"), h)
			c, err := safetensors.OpenCheckpoint(out)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if md := c.Metadata(); md["format"] != "pt" {
				t.Errorf("metadata %v", md)
			}
			d, kv, hid, hs := h.Dim, h.KVDim(), h.HiddenDim, h.HeadSize()
			type want struct {
				data  []float32
				shape []int64
			}
			wants := map[string]want{
				"model.embed_tokens.weight": {m.secs["token_embedding"], []int64{int64(h.VocabSize), int64(d)}},
				"model.norm.weight":         {m.secs["rms_final"], []int64{int64(d)}},
			}
			if !shared {
				wants["lm_head.weight"] = want{m.secs["wcls"], []int64{int64(h.VocabSize), int64(d)}}
			}
			for l := 0; l < h.NLayers; l++ {
				p := "model.layers." + strconv.Itoa(l) + "."
				wants[p+"input_layernorm.weight"] = want{m.layer("rms_att", l, 1, d), []int64{int64(d)}}
				wants[p+"post_attention_layernorm.weight"] = want{m.layer("rms_ffn", l, 1, d), []int64{int64(d)}}
				wants[p+"self_attn.q_proj.weight"] = want{reshapeTranspose(m.layer("wq", l, d, d), h.NHeads, hs, d), []int64{int64(d), int64(d)}}
				wants[p+"self_attn.k_proj.weight"] = want{reshapeTranspose(m.layer("wk", l, kv, d), h.NKVHeads, hs, d), []int64{int64(kv), int64(d)}}
				wants[p+"self_attn.v_proj.weight"] = want{m.layer("wv", l, kv, d), []int64{int64(kv), int64(d)}}
				wants[p+"self_attn.o_proj.weight"] = want{m.layer("wo", l, d, d), []int64{int64(d), int64(d)}}
				wants[p+"mlp.gate_proj.weight"] = want{m.layer("w1", l, hid, d), []int64{int64(hid), int64(d)}}
				wants[p+"mlp.up_proj.weight"] = want{m.layer("w3", l, hid, d), []int64{int64(hid), int64(d)}}
				wants[p+"mlp.down_proj.weight"] = want{m.layer("w2", l, d, hid), []int64{int64(d), int64(hid)}}
			}
			var names []string
			for n := range wants {
				names = append(names, n)
			}
			slices.Sort(names)
			if !slices.Equal(c.Names(), names) {
				t.Fatalf("names %v\nwant %v", c.Names(), names)
			}
			for name, w := range wants {
				got, shape := readF32(t, c, name)
				if !slices.Equal(shape, w.shape) {
					t.Errorf("%s: shape %v, want %v", name, shape, w.shape)
				}
				if !slices.Equal(got, w.data) {
					t.Errorf("%s: data differs", name)
				}
			}
			assertDir(t, out, "config.json", "model.safetensors")
		})
	}
}

// reshapeTranspose is export.py hf_export's permute_original written out
// with explicit indices: w.reshape(heads, hd/2, 2, cols).transpose(1, 2).
func reshapeTranspose(w []float32, heads, hd, cols int) []float32 {
	out := make([]float32, len(w))
	half := hd / 2
	for h := 0; h < heads; h++ {
		for i := 0; i < half; i++ {
			for j := 0; j < 2; j++ {
				src := ((h*half+i)*2 + j) * cols // index [h][i][j] of the input
				dst := ((h*2+j)*half + i) * cols // index [h][j][i] of the output
				copy(out[dst:dst+cols], w[src:src+cols])
			}
		}
	}
	return out
}

func checkConfig(t *testing.T, path string, h Header) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"architectures": []any{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": float64(h.Dim), "intermediate_size": float64(h.HiddenDim),
		"num_hidden_layers": float64(h.NLayers), "num_attention_heads": float64(h.NHeads),
		"num_key_value_heads": float64(h.NKVHeads), "vocab_size": float64(h.VocabSize),
		"max_position_embeddings": float64(h.SeqLen), "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
		"hidden_act": "silu", "tie_word_embeddings": h.SharedClassifier, "bos_token_id": 1.0,
		"eos_token_id": 2.0, "torch_dtype": "float32", "attention_bias": false, "mlp_bias": false,
	}
	if len(got) != len(want) {
		t.Errorf("config has %d keys, want %d: %s", len(got), len(want), raw)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("config lacks %s", k)
			continue
		}
		gj, _ := json.Marshal(g)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("config %s = %s, want %s", k, gj, wj)
		}
	}
	if !bytes.Contains(raw, []byte(`"rope_theta": 10000.0`)) {
		t.Errorf("rope_theta not written as a float: %s", raw)
	}
}

func assertDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) && !(len(got) == 0 && len(names) == 0) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// ropeLlama2c is llama2.c run.c's rotation: adjacent pairs (2i, 2i+1) of each
// head, frequency 10000^(−2i/hd).
func ropeLlama2c(v []float64, hd, pos int) {
	for k := 0; k < len(v); k += 2 {
		freq := 1 / math.Pow(10000, float64(k%hd)/float64(hd))
		c, s := math.Cos(float64(pos)*freq), math.Sin(float64(pos)*freq)
		a, b := v[k], v[k+1]
		v[k], v[k+1] = a*c-b*s, a*s+b*c
	}
}

// ropeHF is transformers' apply_rotary_pos_emb: x·cos + rotate_half(x)·sin
// per head, pairing (i, i + hd/2) at frequency 10000^(−2i/hd).
func ropeHF(v []float64, hd, pos int) {
	half := hd / 2
	for h := 0; h < len(v); h += hd {
		for i := 0; i < half; i++ {
			freq := 1 / math.Pow(10000, float64(2*i)/float64(hd))
			c, s := math.Cos(float64(pos)*freq), math.Sin(float64(pos)*freq)
			a, b := v[h+i], v[h+i+half]
			v[h+i], v[h+i+half] = a*c-b*s, b*c+a*s
		}
	}
}

func matVec(w []float32, rows, cols int, x []float64) []float64 {
	out := make([]float64, rows)
	for r := range out {
		var s float64
		for c := 0; c < cols; c++ {
			s += float64(w[r*cols+c]) * x[c]
		}
		out[r] = s
	}
	return out
}

// attnScores returns q_h·k_{h/rep} for every query head after RoPE.
func attnScores(wq, wk []float32, h Header, x, y []float64, pq, pk int, rope func([]float64, int, int)) []float64 {
	hs := h.HeadSize()
	q := matVec(wq, h.Dim, h.Dim, x)
	k := matVec(wk, h.KVDim(), h.Dim, y)
	rope(q, hs, pq)
	rope(k, hs, pk)
	rep := h.NHeads / h.NKVHeads
	scores := make([]float64, h.NHeads)
	for i := range scores {
		kh := i / rep
		for j := 0; j < hs; j++ {
			scores[i] += q[i*hs+j] * k[kh*hs+j]
		}
	}
	return scores
}

// checkRoPEEquivalence checks that the converted q/k weights with HF
// rotate-half RoPE give the attention scores the original weights give with
// llama2.c's adjacent-pair RoPE, and that skipping the permutation would not.
func checkRoPEEquivalence(t *testing.T, h Header, origQ, origK func(l int) []float32, c *safetensors.Checkpoint) {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	for l := 0; l < h.NLayers; l++ {
		pre := "model.layers." + strconv.Itoa(l) + ".self_attn."
		hfQ, _ := readF32(t, c, pre+"q_proj.weight")
		hfK, _ := readF32(t, c, pre+"k_proj.weight")
		x := make([]float64, h.Dim)
		y := make([]float64, h.Dim)
		for i := range x {
			x[i], y[i] = r.NormFloat64(), r.NormFloat64()
		}
		for _, pos := range [][2]int{{0, 0}, {5, 2}, {17, 9}, {h.SeqLen - 1, 1}} {
			want := attnScores(origQ(l), origK(l), h, x, y, pos[0], pos[1], ropeLlama2c)
			got := attnScores(hfQ, hfK, h, x, y, pos[0], pos[1], ropeHF)
			unpermuted := attnScores(origQ(l), origK(l), h, x, y, pos[0], pos[1], ropeHF)
			var scale, maxDiff, maxWrong float64
			for i := range want {
				scale = max(scale, math.Abs(want[i]))
				maxDiff = max(maxDiff, math.Abs(got[i]-want[i]))
				maxWrong = max(maxWrong, math.Abs(unpermuted[i]-want[i]))
			}
			if maxDiff > 1e-9*max(scale, 1) {
				t.Errorf("layer %d positions %v: scores differ by %g (scale %g)", l, pos, maxDiff, scale)
			}
			if pos[0] != pos[1] && maxWrong < 1e-3*scale {
				t.Errorf("layer %d positions %v: unpermuted weights also match; the check is vacuous", l, pos)
			}
		}
	}
}

func TestRoPEEquivalenceSynthetic(t *testing.T) {
	h := Header{Dim: 32, HiddenDim: 8, NLayers: 1, NHeads: 2, NKVHeads: 1, VocabSize: 3, SeqLen: 32, SharedClassifier: true}
	m := newV0(h, 11)
	dir := t.TempDir()
	if _, err := Convert(writeBin(t, dir, m), dir+"/out"); err != nil {
		t.Fatal(err)
	}
	c, err := safetensors.OpenCheckpoint(dir + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkRoPEEquivalence(t, h,
		func(l int) []float32 { return m.layer("wq", l, h.Dim, h.Dim) },
		func(l int) []float32 { return m.layer("wk", l, h.KVDim(), h.Dim) }, c)
}

func TestConvertErrors(t *testing.T) {
	m := newV0(tiny, 1)
	good := m.bytes()
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)-4], "truncated"},
		{"header only", good[:HeaderSize], "truncated"},
		{"trailing bytes", append(slices.Clone(good), 0, 0, 0, 0), "trailing bytes"},
		{"short header", good[:10], "header truncated"},
		{"empty", nil, "header truncated"},
		{"bad header", append([]byte{0, 0, 0, 0}, good[4:]...), "dim = 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "m.bin")
			os.WriteFile(bin, c.data, 0o644)
			if _, err := Inspect(bin); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Inspect: error %v, want one containing %q", err, c.want)
			}
			out := filepath.Join(dir, "out")
			_, err := Convert(bin, out)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), bin) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want a one-line error naming %s and containing %q", err, bin, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				assertDir(t, out)
			}
		})
	}
	if _, err := Convert(filepath.Join(t.TempDir(), "missing.bin"), t.TempDir()); err == nil {
		t.Error("missing input accepted")
	}
	if _, err := Convert(t.TempDir(), t.TempDir()); err == nil {
		t.Error("directory input accepted")
	}
}

func TestConvertNeverOverwritesInput(t *testing.T) {
	m := newV0(tiny, 2)
	for _, name := range []string{"model.safetensors", "config.json"} {
		dir := t.TempDir()
		bin := filepath.Join(dir, name)
		os.WriteFile(bin, m.bytes(), 0o644)
		if _, err := Convert(bin, dir); err == nil || !strings.Contains(err.Error(), "input") {
			t.Errorf("%s: error %v, want a refusal", name, err)
		}
		if got, _ := os.ReadFile(bin); !bytes.Equal(got, m.bytes()) {
			t.Errorf("%s: input modified", name)
		}
		assertDir(t, dir, name)
	}
	// An existing output that is not the input is replaced.
	dir := t.TempDir()
	bin := writeBin(t, dir, m)
	out := filepath.Join(dir, "out")
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "config.json"), []byte("old"), 0o644)
	if _, err := Convert(bin, out); err != nil {
		t.Fatal(err)
	}
	checkConfig(t, filepath.Join(out, "config.json"), tiny)
}

func TestSharedModels(t *testing.T) {
	models := []struct {
		rel  string
		want Header
	}{
		{"models/stories260K/stories260K.bin", Header{64, 172, 5, 8, 4, 512, 512, true}},
		{"models/babyllama-tok105/model5000.bin", Header{128, 352, 5, 8, 4, 105, 256, true}},
	}
	for _, mdl := range models {
		t.Run(filepath.Base(mdl.rel), func(t *testing.T) {
			bin := shareddata.Path(t, mdl.rel)
			raw, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ReadHeader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if h != mdl.want {
				t.Fatalf("header %+v, want %+v", h, mdl.want)
			}
			if h.FileSize() != int64(len(raw)) {
				t.Fatalf("FileSize %d, file %d", h.FileSize(), len(raw))
			}
			if hi, err := Inspect(bin); err != nil || hi != h {
				t.Fatalf("Inspect = %+v, %v", hi, err)
			}
			out := t.TempDir()
			if _, err := Convert(bin, out); err != nil {
				t.Fatal(err)
			}
			checkConfig(t, filepath.Join(out, "config.json"), h)
			c, err := safetensors.OpenCheckpoint(out)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if n := len(c.Names()); n != 2+9*h.NLayers {
				t.Errorf("%d tensors, want %d", n, 2+9*h.NLayers)
			}
			if c.Has("lm_head.weight") {
				t.Error("shared classifier written as lm_head.weight")
			}
			shapes := map[string][]int64{
				"model.embed_tokens.weight":                      {int64(h.VocabSize), int64(h.Dim)},
				"model.norm.weight":                              {int64(h.Dim)},
				"model.layers.4.self_attn.q_proj.weight":         {int64(h.Dim), int64(h.Dim)},
				"model.layers.4.self_attn.k_proj.weight":         {int64(h.KVDim()), int64(h.Dim)},
				"model.layers.0.self_attn.v_proj.weight":         {int64(h.KVDim()), int64(h.Dim)},
				"model.layers.0.mlp.down_proj.weight":            {int64(h.Dim), int64(h.HiddenDim)},
				"model.layers.2.mlp.gate_proj.weight":            {int64(h.HiddenDim), int64(h.Dim)},
				"model.layers.3.post_attention_layernorm.weight": {int64(h.Dim)},
			}
			for name, want := range shapes {
				info, ok := c.Info(name)
				if !ok || !slices.Equal(info.Shape, want) || info.DType != safetensors.F32 {
					t.Errorf("%s: %+v, want F32 %v", name, info, want)
				}
			}
			if c.TotalBytes() != h.FileSize()-HeaderSize-4*int64(h.SeqLen*h.HeadSize()) {
				t.Errorf("TotalBytes %d: not the input minus header and freq_cis", c.TotalBytes())
			}
			// The embedding passes through bit for bit.
			emb, _ := c.Tensor("model.embed_tokens.weight")
			if !bytes.Equal(emb.Data, raw[HeaderSize:HeaderSize+4*h.VocabSize*h.Dim]) {
				t.Error("embedding bytes differ from the input")
			}
			off := h.offsets()
			f32 := func(sec string, l, rows int) []float32 {
				start := off[sec] + 4*int64(l*rows*h.Dim)
				v := make([]float32, rows*h.Dim)
				binary.Read(bytes.NewReader(raw[start:start+int64(4*len(v))]), binary.LittleEndian, v)
				return v
			}
			checkRoPEEquivalence(t, h,
				func(l int) []float32 { return f32("wq", l, h.Dim) },
				func(l int) []float32 { return f32("wk", l, h.KVDim()) }, c)
		})
	}
}
