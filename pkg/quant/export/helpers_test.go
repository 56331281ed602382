package export

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/x448/float16"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/quant"
)

// tinySpec is a synthetic Llama-family checkpoint whose widths fit
// AutoAWQ's g128 layout (the demo and testdata/models/tiny-* do not: their
// widths are 64 and 40…172).
type tinySpec struct {
	arch            string
	hidden, inter   int
	heads, kv, hd   int
	layers, vocab   int
	bias, tied      bool
	seed            uint64
	extraConfigJSON string
}

func awqTinySpec() tinySpec {
	return tinySpec{arch: "LlamaForCausalLM", hidden: 128, inter: 256, heads: 4, kv: 2, hd: 32, layers: 1, vocab: 32, seed: 7}
}

// f16 rounds v to the nearest half-precision value, so that tensors stored
// as F32 survive the F16 conversion of an export unchanged.
func f16(v float32) float32 { return float16.Fromfloat32(v).Float32() }

// writeTiny writes config.json and model.safetensors of a random model
// with F16 embeddings and LM head and F16-exact norms and biases.
func writeTiny(t testing.TB, dir string, s tinySpec) {
	t.Helper()
	rng := rand.New(rand.NewPCG(s.seed, 1))
	cfg := fmt.Sprintf(`{"architectures":[%q],"hidden_size":%d,"intermediate_size":%d,"num_attention_heads":%d,
"num_key_value_heads":%d,"head_dim":%d,"num_hidden_layers":%d,"vocab_size":%d,"max_position_embeddings":64,
"rms_norm_eps":1e-5,"rope_theta":10000.0,"tie_word_embeddings":%v,"attention_bias":%v,"torch_dtype":"float16",
"bos_token_id":1,"eos_token_id":2%s}`, s.arch, s.hidden, s.inter, s.heads, s.kv, s.hd, s.layers, s.vocab, s.tied, s.bias, s.extraConfigJSON)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	add := func(name string, dt safetensors.DType, shape []int64, v []float32) {
		b := make([]byte, 0, 4*len(v))
		for _, x := range v {
			if dt == safetensors.F16 {
				b = binary.LittleEndian.AppendUint16(b, float16.Fromfloat32(x).Bits())
			} else {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
			}
		}
		ts = append(ts, safetensors.Tensor{TensorInfo: safetensors.TensorInfo{Name: name, DType: dt, Shape: shape, End: int64(len(b))}, Data: b})
	}
	randn := func(n int, std float64, exact bool) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
			if exact {
				v[i] = f16(v[i])
			}
		}
		return v
	}
	norm := func(n int) []float32 {
		v := randn(n, 0.1, false)
		for i := range v {
			v[i] = f16(1 + v[i])
		}
		return v
	}
	add("model.embed_tokens.weight", safetensors.F16, []int64{int64(s.vocab), int64(s.hidden)}, randn(s.vocab*s.hidden, 1, false))
	q, kv := s.heads*s.hd, s.kv*s.hd
	shapes := map[string][2]int{
		"self_attn.q_proj": {q, s.hidden}, "self_attn.k_proj": {kv, s.hidden}, "self_attn.v_proj": {kv, s.hidden},
		"self_attn.o_proj": {s.hidden, q}, "mlp.gate_proj": {s.inter, s.hidden}, "mlp.up_proj": {s.inter, s.hidden},
		"mlp.down_proj": {s.hidden, s.inter},
	}
	for l := 0; l < s.layers; l++ {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"input_layernorm.weight", safetensors.F32, []int64{int64(s.hidden)}, norm(s.hidden))
		add(p+"post_attention_layernorm.weight", safetensors.F32, []int64{int64(s.hidden)}, norm(s.hidden))
		for _, n := range model.LayerLinearNames {
			sh := shapes[n]
			add(p+n+".weight", safetensors.F32, []int64{int64(sh[0]), int64(sh[1])}, randn(sh[0]*sh[1], 1/math.Sqrt(float64(sh[1])), false))
			if s.bias && (n == "self_attn.q_proj" || n == "self_attn.k_proj" || n == "self_attn.v_proj" || (s.arch == "LlamaForCausalLM" && n == "self_attn.o_proj")) {
				add(p+n+".bias", safetensors.F32, []int64{int64(sh[0])}, randn(sh[0], 0.1, true))
			}
		}
	}
	add("model.norm.weight", safetensors.F32, []int64{int64(s.hidden)}, norm(s.hidden))
	if !s.tied {
		add("lm_head.weight", safetensors.F16, []int64{int64(s.vocab), int64(s.hidden)}, randn(s.vocab*s.hidden, 0.2, false))
	}
	if err := safetensors.WriteFile(filepath.Join(dir, safetensors.SingleFileName), ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

// quantizeTiny writes the tiny model to src, quantizes it with method on
// format f and saves a ttq checkpoint (with config.json) to dst, which it
// returns loaded through quant.Load as `ttq quantize` output would be.
func quantizeTiny(t testing.TB, s tinySpec, method string, f quant.Format) (*model.Model, string) {
	t.Helper()
	src, dst := t.TempDir(), t.TempDir()
	writeTiny(t, src, s)
	m, err := model.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	o, err := quant.DefaultOptions(method)
	if err != nil {
		t.Fatal(err)
	}
	o.Format = f
	o.Ragged = quant.RaggedError
	cal, err := quant.New(method, o)
	if err != nil {
		t.Fatal(err)
	}
	var calib [][]int
	if method != "rtn" {
		rng := rand.New(rand.NewPCG(s.seed, 2))
		for i := 0; i < 4; i++ {
			seq := make([]int, 32)
			for j := range seq {
				seq[j] = rng.IntN(s.vocab)
			}
			calib = append(calib, seq)
		}
	}
	if err := cal.Apply(context.Background(), m, calib, nil); err != nil {
		t.Fatal(err)
	}
	if err := quant.Save(dst, m, map[string]string{quant.MetaMethod: method}); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	qm, _, err := quant.Load(dst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qm.Close() })
	return qm, dst
}

func awqFormat() quant.Format {
	return quant.Format{Bits: 4, Group: 128, Grid: quant.GridMinMax, Scale: quant.ScaleF16}
}

func logits(t testing.TB, m *model.Model, tokens []int) []float32 {
	t.Helper()
	out, err := m.Forward(m.NewState(len(tokens)), tokens, model.AllLogits)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out...)
}

func maxAbsDiff(a, b []float32) (float64, float64) {
	var d, mx float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
		mx = max(mx, math.Abs(float64(b[i])))
	}
	return d, mx
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
