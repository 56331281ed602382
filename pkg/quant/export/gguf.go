package export

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"github.com/ttqproject/ttq/internal/atomicfile"
	"io"
	"math"
	"strings"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/quant"
)

// GGUF file constants (ggml docs/gguf.md).
const (
	ggufMagic     = "GGUF"
	ggufVersion   = 3
	ggufAlignment = 32
	// quantizationVersion is general.quantization_version of files holding
	// ggml's current Q4_0/Q8_0 blocks (GGML_QNT_VERSION).
	quantizationVersion = 2
)

// GGUF metadata value types.
const (
	gI32    uint32 = 5
	gU32    uint32 = 4
	gF32    uint32 = 6
	gBool   uint32 = 7
	gString uint32 = 8
	gArray  uint32 = 9
)

type kv struct {
	key string
	val any // uint32, int32, float32, bool, string, []string, []float32, []int32
}

// GGUFOptions configure WriteGGUF.
type GGUFOptions struct {
	// Type is the element type of the matrices; vectors are always F32.
	Type GGMLType
	// Name is general.name.
	Name string
	// Progress is told after each tensor; nil is allowed.
	Progress func(done, total int)
}

// TensorReport describes one written tensor.
type TensorReport struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Dims   []uint64 `json:"dims"` // innermost first, as GGUF stores them
	Offset uint64   `json:"offset"`
	Bytes  uint64   `json:"bytes"`
	// Note says why the tensor is not of the requested type.
	Note string `json:"note,omitempty"`
}

// GGUFReport describes a written GGUF file.
type GGUFReport struct {
	Architecture string         `json:"architecture"`
	Type         string         `json:"type"`
	Tensors      []TensorReport `json:"tensors"`
	Keys         []string       `json:"keys"`
	Bytes        int64          `json:"bytes"`
	Notes        []string       `json:"notes,omitempty"`
}

// ggufTensor is a tensor to be written: its shape (GGUF order), type and a
// source of float32 rows of length dims[0].
type ggufTensor struct {
	name   string
	dims   []uint64
	typ    GGMLType
	rows   int
	row    func(dst []float32, r int)
	note   string
	offset uint64
}

func (t *ggufTensor) cols() int { return int(t.dims[0]) }

func (t *ggufTensor) size() uint64 { return uint64(t.rows) * uint64(t.typ.RowBytes(t.cols())) }

// ggufArch maps a Hugging Face architecture to llama.cpp's.
func ggufArch(hf string) (string, error) {
	switch hf {
	case "LlamaForCausalLM", "MistralForCausalLM":
		return "llama", nil
	case "Qwen2ForCausalLM":
		return "qwen2", nil
	case "Qwen3ForCausalLM":
		return "qwen3", nil
	}
	return "", fmt.Errorf("export: no GGUF architecture for %s", hf)
}

// WriteGGUF writes m as a GGUF v3 file at path (atomically: a temporary
// file renamed into place) with the tokenizer v. Matrices are stored as
// o.Type, quantized natively from the model's float32 weights (a ttq
// quantized model is dequantized first); matrices whose rows are not a
// multiple of 32 stay F16 (F32 when o.Type is F32) and 1-D tensors F32,
// as llama.cpp's converter does. For the llama architecture the rows of
// q_proj and k_proj are permuted per head from Hugging Face's rotate-half
// layout to ggml's interleaved pairs (convert_hf_to_gguf.py
// LlamaModel.permute).
func WriteGGUF(path string, m *model.Model, v *Vocab, o GGUFOptions) (*GGUFReport, error) {
	c := m.Config
	arch, err := ggufArch(c.Architecture)
	if err != nil {
		return nil, err
	}
	if _, err := ParseGGMLType(o.Type.String()); err != nil {
		return nil, err
	}
	if v == nil || len(v.Tokens) != c.VocabSize {
		return nil, fmt.Errorf("export: GGUF needs a vocabulary of %d tokens (the model's vocab_size)", c.VocabSize)
	}
	rep := &GGUFReport{Architecture: arch, Type: o.Type.String()}
	tensors, notes, err := modelTensors(m, arch, o.Type)
	if err != nil {
		return nil, err
	}
	rep.Notes = append(rep.Notes, notes...)
	if c.SlidingWindow > 0 && c.SlidingWindow < c.MaxPositions {
		rep.Notes = append(rep.Notes, fmt.Sprintf("sliding_window %d is not stored: llama.cpp's %s architecture attends to the whole context, so outputs past %d tokens differ", c.SlidingWindow, arch, c.SlidingWindow))
	}
	kvs := modelKVs(m, arch, o, v, tensors)
	for _, kv := range kvs {
		rep.Keys = append(rep.Keys, kv.key)
	}

	var off uint64
	for _, t := range tensors {
		t.offset = off
		off = alignUp(off+t.size(), ggufAlignment)
		rep.Tensors = append(rep.Tensors, TensorReport{Name: t.name, Type: t.typ.String(), Dims: t.dims, Offset: t.offset, Bytes: t.size(), Note: t.note})
	}
	header, err := encodeHeader(kvs, tensors)
	if err != nil {
		return nil, err
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := bw.Write(header); err != nil {
		return nil, err
	}
	n := uint64(len(header))
	if err := pad(bw, &n, ggufAlignment); err != nil {
		return nil, err
	}
	for i, t := range tensors {
		if err := writeTensorData(bw, t); err != nil {
			return nil, err
		}
		n += t.size()
		if err := pad(bw, &n, ggufAlignment); err != nil {
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(i+1, len(tensors))
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := f.Commit(); err != nil {
		return nil, err
	}
	rep.Bytes = int64(n)
	return rep, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

func pad(w io.Writer, n *uint64, a uint64) error {
	p := alignUp(*n, a) - *n
	if p == 0 {
		return nil
	}
	_, err := w.Write(make([]byte, p))
	*n += p
	return err
}

func writeTensorData(w io.Writer, t *ggufTensor) error {
	row := make([]float32, t.cols())
	buf := make([]byte, t.typ.RowBytes(t.cols()))
	for r := 0; r < t.rows; r++ {
		t.row(row, r)
		if err := EncodeRow(buf, row, t.typ); err != nil {
			return fmt.Errorf("export: %s row %d: %w", t.name, r, err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// modelKVs lists the metadata in the order llama.cpp's converter writes
// it: general.*, the architecture's hyper-parameters, the tokenizer.
func modelKVs(m *model.Model, arch string, o GGUFOptions, v *Vocab, tensors []*ggufTensor) []kv {
	c := m.Config
	quantized := false
	for _, t := range tensors {
		quantized = quantized || t.typ.Quantized()
	}
	kvs := []kv{
		{"general.architecture", arch},
		{"general.name", o.Name},
		{"general.alignment", uint32(ggufAlignment)},
		{"general.file_type", o.Type.fileType()},
	}
	if quantized {
		kvs = append(kvs, kv{"general.quantization_version", uint32(quantizationVersion)})
	}
	a := arch + "."
	kvs = append(kvs,
		kv{a + "vocab_size", uint32(c.VocabSize)},
		kv{a + "context_length", uint32(c.MaxPositions)},
		kv{a + "embedding_length", uint32(c.HiddenSize)},
		kv{a + "block_count", uint32(c.NumLayers)},
		kv{a + "feed_forward_length", uint32(c.IntermediateSize)},
		kv{a + "attention.head_count", uint32(c.NumHeads)},
		kv{a + "attention.head_count_kv", uint32(c.NumKVHeads)},
		kv{a + "attention.key_length", uint32(c.HeadDim)},
		kv{a + "attention.value_length", uint32(c.HeadDim)},
		kv{a + "attention.layer_norm_rms_epsilon", float32(c.RMSNormEps)},
		kv{a + "rope.dimension_count", uint32(c.HeadDim)},
		kv{a + "rope.freq_base", float32(c.Rope.Theta)},
	)
	if c.Rope.Type == "linear" {
		kvs = append(kvs, kv{a + "rope.scaling.type", "linear"}, kv{a + "rope.scaling.factor", float32(c.Rope.Factor)})
	}
	kvs = append(kvs,
		kv{"tokenizer.ggml.model", v.Model},
		kv{"tokenizer.ggml.pre", v.Pre},
		kv{"tokenizer.ggml.tokens", v.Tokens},
		kv{"tokenizer.ggml.token_type", v.Types},
	)
	if v.Scores != nil {
		kvs = append(kvs, kv{"tokenizer.ggml.scores", v.Scores})
	}
	if v.Merges != nil {
		kvs = append(kvs, kv{"tokenizer.ggml.merges", v.Merges})
	}
	for _, id := range []struct {
		key string
		id  int
	}{{"bos_token_id", v.BOS}, {"eos_token_id", v.EOS}, {"unknown_token_id", v.UNK}} {
		if id.id >= 0 {
			kvs = append(kvs, kv{"tokenizer.ggml." + id.key, uint32(id.id)})
		}
	}
	kvs = append(kvs, kv{"tokenizer.ggml.add_bos_token", v.AddBOS}, kv{"tokenizer.ggml.add_eos_token", v.AddEOS})
	if v.Model == "llama" {
		kvs = append(kvs, kv{"tokenizer.ggml.add_space_prefix", v.AddSpacePrefix})
	}
	return kvs
}

// rowSource returns a function giving the float32 rows of a linear layer
// as the model computes with them, and its bias.
func rowSource(name string, l model.Linear) (func(dst []float32, r int), []float32, string, error) {
	switch l := l.(type) {
	case *model.Dense:
		return l.W.Row, l.Bias, "", nil
	case *quant.QLinear:
		in := l.InScale
		return func(dst []float32, r int) {
			l.DequantizeRows(dst, r, 1)
			for c, s := range in {
				dst[c] *= s
			}
		}, l.Bias, "dequantized from " + l.Format.String(), nil
	}
	return nil, nil, "", fmt.Errorf("export: %s is a %T, which has no static weights to export (test-time methods quantize at inference)", name, l)
}

// headPerm maps row p of the permuted matrix to its source row: rows viewed
// as (heads, 2, hd/2) with the inner axes swapped.
func headPerm(p, hd int) int {
	h, i := p/hd, p%hd
	return h*hd + (i%2)*(hd/2) + i/2
}

func modelTensors(m *model.Model, arch string, typ GGMLType) ([]*ggufTensor, []string, error) {
	c := m.Config
	var out []*ggufTensor
	var notes []string
	vec := func(name string, v []float32) {
		out = append(out, &ggufTensor{name: name, dims: []uint64{uint64(len(v))}, typ: TypeF32, rows: 1,
			row: func(dst []float32, _ int) { copy(dst, v) }})
	}
	mat := func(name string, rows, cols int, row func([]float32, int), note string) {
		t := &ggufTensor{name: name, dims: []uint64{uint64(cols), uint64(rows)}, typ: typ, rows: rows, row: row, note: note}
		if typ.Quantized() && cols%QK != 0 {
			t.typ = TypeF16
			t.note = joinNote(note, fmt.Sprintf("kept F16: rows of %d are not a multiple of %d", cols, QK))
		}
		out = append(out, t)
	}
	mat("token_embd.weight", m.Embed.Rows, m.Embed.Cols, m.Embed.Row, "")
	if c.Rope.Type == "llama3" {
		vec("rope_freqs.weight", llama3Factors(c))
	} else if c.Rope.Type != "default" && c.Rope.Type != "linear" && c.Rope.Type != "" {
		return nil, nil, fmt.Errorf("export: rope type %q has no GGUF equivalent ttq writes", c.Rope.Type)
	}
	names := map[string]string{
		"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
		"self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
	}
	for l := range m.Layers {
		ly := &m.Layers[l]
		p := fmt.Sprintf("blk.%d.", l)
		vec(p+"attn_norm.weight", ly.AttnNorm)
		for _, n := range model.LayerLinearNames {
			site := model.Site{Layer: l, Name: n}
			lin, err := m.Linear(site)
			if err != nil {
				return nil, nil, err
			}
			row, bias, note, err := rowSource(site.String(), lin)
			if err != nil {
				return nil, nil, err
			}
			heads := 0
			if arch == "llama" && n == "self_attn.q_proj" {
				heads = c.NumHeads
			} else if arch == "llama" && n == "self_attn.k_proj" {
				heads = c.NumKVHeads
			}
			if heads > 0 {
				hd := lin.Out() / heads
				src := row
				row = func(dst []float32, r int) { src(dst, headPerm(r, hd)) }
				if bias != nil {
					pb := make([]float32, len(bias))
					for r := range pb {
						pb[r] = bias[headPerm(r, hd)]
					}
					bias = pb
				}
			}
			mat(p+names[n]+".weight", lin.Out(), lin.In(), row, note)
			if bias != nil {
				vec(p+names[n]+".bias", bias)
			}
			if n == "self_attn.o_proj" && ly.Attn.QNorm != nil {
				vec(p+"attn_q_norm.weight", ly.Attn.QNorm)
				vec(p+"attn_k_norm.weight", ly.Attn.KNorm)
			}
			if n == "self_attn.o_proj" {
				vec(p+"ffn_norm.weight", ly.MLPNorm)
			}
		}
	}
	vec("output_norm.weight", m.Norm)
	tied := c.TieWordEmbeddings
	if d, ok := m.LMHead.(*model.Dense); ok && len(d.W.Data) > 0 && len(m.Embed.Data) > 0 && &d.W.Data[0] == &m.Embed.Data[0] {
		tied = true
	}
	if !tied {
		row, _, note, err := rowSource("lm_head", m.LMHead)
		if err != nil {
			return nil, nil, err
		}
		mat("output.weight", m.LMHead.Out(), m.LMHead.In(), row, note)
	}
	if typ.Quantized() {
		byWidth := map[uint64][]string{}
		var widths []uint64
		for _, t := range out {
			if t.typ == TypeF16 {
				if byWidth[t.dims[0]] == nil {
					widths = append(widths, t.dims[0])
				}
				byWidth[t.dims[0]] = append(byWidth[t.dims[0]], t.name)
			}
		}
		for _, w := range widths {
			names := byWidth[w]
			notes = append(notes, fmt.Sprintf("%d matrices stay F16, their rows of %d elements not being a multiple of %d: %s", len(names), w, QK, strings.Join(names, ", ")))
		}
	}
	return out, notes, nil
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// llama3Factors is rope_freqs.weight: the per-frequency divisor that turns
// the default inverse frequencies into Llama 3.1's scaled ones, as
// convert_hf_to_gguf.py LlamaModel.generate_extra_tensors computes it.
func llama3Factors(c model.Config) []float32 {
	r := c.Rope
	d := c.HeadDim
	orig := float64(r.OriginalMaxPositions)
	lowWavelen, highWavelen := orig/r.LowFreqFactor, orig/r.HighFreqFactor
	out := make([]float32, d/2)
	for i := range out {
		freq := 1 / math.Pow(r.Theta, float64(2*i)/float64(d))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			out[i] = 1
		case wavelen > lowWavelen:
			out[i] = float32(r.Factor)
		default:
			smooth := (orig/wavelen - r.LowFreqFactor) / (r.HighFreqFactor - r.LowFreqFactor)
			out[i] = float32(1 / ((1-smooth)/r.Factor + smooth))
		}
	}
	return out
}

type leWriter struct{ b []byte }

func (w *leWriter) u32(v uint32)  { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *leWriter) u64(v uint64)  { w.b = binary.LittleEndian.AppendUint64(w.b, v) }
func (w *leWriter) str(s string)  { w.u64(uint64(len(s))); w.b = append(w.b, s...) }
func (w *leWriter) f32(v float32) { w.u32(math.Float32bits(v)) }

func encodeHeader(kvs []kv, tensors []*ggufTensor) ([]byte, error) {
	w := &leWriter{}
	w.b = append(w.b, ggufMagic...)
	w.u32(ggufVersion)
	w.u64(uint64(len(tensors)))
	w.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		w.str(kv.key)
		switch v := kv.val.(type) {
		case uint32:
			w.u32(gU32)
			w.u32(v)
		case int32:
			w.u32(gI32)
			w.u32(uint32(v))
		case float32:
			w.u32(gF32)
			w.f32(v)
		case bool:
			w.u32(gBool)
			if v {
				w.b = append(w.b, 1)
			} else {
				w.b = append(w.b, 0)
			}
		case string:
			w.u32(gString)
			w.str(v)
		case []string:
			w.u32(gArray)
			w.u32(gString)
			w.u64(uint64(len(v)))
			for _, s := range v {
				w.str(s)
			}
		case []float32:
			w.u32(gArray)
			w.u32(gF32)
			w.u64(uint64(len(v)))
			for _, f := range v {
				w.f32(f)
			}
		case []int32:
			w.u32(gArray)
			w.u32(gI32)
			w.u64(uint64(len(v)))
			for _, x := range v {
				w.u32(uint32(x))
			}
		default:
			panic(fmt.Sprintf("export: metadata %s has unsupported type %T", kv.key, kv.val))
		}
	}
	for _, t := range tensors {
		if len(t.name) > 64 {
			return nil, fmt.Errorf("export: tensor name %q is longer than GGUF's 64 bytes", t.name)
		}
		w.str(t.name)
		w.u32(uint32(len(t.dims)))
		for _, d := range t.dims {
			w.u64(d)
		}
		w.u32(uint32(t.typ))
		w.u64(t.offset)
	}
	return w.b, nil
}
