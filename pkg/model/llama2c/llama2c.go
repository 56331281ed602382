// Package llama2c imports llama2.c legacy (v0) checkpoints, the format of the
// tiny real models (stories260K, babyllama) used in tests and demos, and
// converts them to a Hugging Face LlamaForCausalLM directory (config.json +
// model.safetensors) so that the rest of ttq reads only one layout.
//
// A v0 file is a 28-byte header of seven little-endian int32 (dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len) followed by
// float32 tensors in a fixed order (karpathy/llama2.c export.py,
// legacy_export). A negative vocab_size means the classifier is stored
// separately at the end of the file; a positive one means it is shared with
// the token embedding.
//
// Import is `ttq import` as one call: a checkpoint, a tokenizer file
// (tokenizer.ConvertFile) and optionally planted outliers
// (transform.PlantCheckpoint) into one model directory.
package llama2c

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// HeaderSize is the size of the v0 header in bytes.
const HeaderSize = 28

// Limits on header values. They are far above any llama2.c-format model
// (Llama-2-70B: dim 8192, hidden 28672, 80 layers, vocab 32000) and keep a
// corrupt header from implying absurd sizes; the file-size check then bounds
// every allocation by the real file size.
const (
	MaxDim       = 1 << 16
	MaxHiddenDim = 1 << 18
	MaxLayers    = 1 << 10
	MaxVocab     = 1 << 22
	MaxSeqLen    = 1 << 22
)

// Header is a decoded v0 header. VocabSize is always positive;
// SharedClassifier records the sign it had in the file.
type Header struct {
	Dim, HiddenDim, NLayers, NHeads, NKVHeads, VocabSize, SeqLen int
	SharedClassifier                                             bool
}

// HeadSize is the per-head dimension.
func (h Header) HeadSize() int { return h.Dim / h.NHeads }

// KVDim is the width of the key and value projections.
func (h Header) KVDim() int { return h.HeadSize() * h.NKVHeads }

// ReadHeader decodes and validates a v0 header.
func ReadHeader(r io.Reader) (Header, error) {
	var buf [HeaderSize]byte
	if n, err := io.ReadFull(r, buf[:]); err != nil {
		return Header{}, fmt.Errorf("llama2c: header truncated: got %d of %d bytes", n, HeaderSize)
	}
	var v [7]int
	for i := range v {
		v[i] = int(int32(binary.LittleEndian.Uint32(buf[4*i:])))
	}
	h := Header{Dim: v[0], HiddenDim: v[1], NLayers: v[2], NHeads: v[3], NKVHeads: v[4], VocabSize: v[5], SeqLen: v[6], SharedClassifier: true}
	if h.VocabSize < 0 {
		h.VocabSize = -h.VocabSize
		h.SharedClassifier = false
	}
	if err := h.Validate(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// Validate checks that the header describes a model this package can convert.
func (h Header) Validate() error {
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{
		{"dim", h.Dim, MaxDim},
		{"hidden_dim", h.HiddenDim, MaxHiddenDim},
		{"n_layers", h.NLayers, MaxLayers},
		{"n_heads", h.NHeads, MaxDim},
		{"n_kv_heads", h.NKVHeads, MaxDim},
		{"vocab_size", h.VocabSize, MaxVocab},
		{"seq_len", h.SeqLen, MaxSeqLen},
	} {
		if f.v <= 0 {
			return fmt.Errorf("llama2c: invalid header: %s = %d, must be positive (not a llama2.c v0 checkpoint?)", f.name, f.v)
		}
		if f.v > f.max {
			return fmt.Errorf("llama2c: invalid header: %s = %d exceeds the limit %d (not a llama2.c v0 checkpoint?)", f.name, f.v, f.max)
		}
	}
	switch {
	case h.Dim%h.NHeads != 0:
		return fmt.Errorf("llama2c: invalid header: n_heads = %d does not divide dim = %d", h.NHeads, h.Dim)
	case h.NHeads%h.NKVHeads != 0:
		return fmt.Errorf("llama2c: invalid header: n_kv_heads = %d does not divide n_heads = %d", h.NKVHeads, h.NHeads)
	case h.HeadSize()%2 != 0:
		return fmt.Errorf("llama2c: invalid header: head size %d (dim %d / n_heads %d) is odd; RoPE needs pairs", h.HeadSize(), h.Dim, h.NHeads)
	}
	return nil
}

// section is one tensor of the v0 file, stacked over layers where it is
// per-layer.
type section struct {
	name   string
	layers int // 1 for global tensors
	rows   int
	cols   int
}

func (s section) floats() int64 { return int64(s.layers) * int64(s.rows) * int64(s.cols) }

// sections lists the v0 tensors in file order.
func (h Header) sections() []section {
	L, d, kv, hid := h.NLayers, h.Dim, h.KVDim(), h.HiddenDim
	s := []section{
		{"token_embedding", 1, h.VocabSize, d},
		{"rms_att", L, 1, d},
		{"wq", L, d, d},
		{"wk", L, kv, d},
		{"wv", L, kv, d},
		{"wo", L, d, d},
		{"rms_ffn", L, 1, d},
		{"w1", L, hid, d},
		{"w2", L, d, hid},
		{"w3", L, hid, d},
		{"rms_final", 1, 1, d},
		{"freq_cis_real", 1, h.SeqLen, h.HeadSize() / 2},
		{"freq_cis_imag", 1, h.SeqLen, h.HeadSize() / 2},
	}
	if !h.SharedClassifier {
		s = append(s, section{"wcls", 1, h.VocabSize, d})
	}
	return s
}

// FileSize is the exact size in bytes of a v0 file with this header. Within
// the header limits it cannot overflow.
func (h Header) FileSize() int64 {
	n := int64(HeaderSize)
	for _, s := range h.sections() {
		n += 4 * s.floats()
	}
	return n
}

// offsets maps section names to their file offsets.
func (h Header) offsets() map[string]int64 {
	m := make(map[string]int64)
	off := int64(HeaderSize)
	for _, s := range h.sections() {
		m[s.name] = off
		off += 4 * s.floats()
	}
	return m
}

// hfRowSource gives, for row r of a Hugging Face q_proj/k_proj weight, the
// row of the llama2.c weight it comes from. llama2.c rotates adjacent pairs
// (2i, 2i+1) of each head by frequency i; transformers rotates (i, i+hd/2).
// Moving source row 2i+j of each head to row j·hd/2 + i turns one into the
// other, which is export.py hf_export's
// reshape(heads, hd/2, 2, cols).transpose(1, 2).
func hfRowSource(r, headDim int) int {
	half := headDim / 2
	h, rem := r/headDim, r%headDim
	j, i := rem/half, rem%half
	return h*headDim + 2*i + j
}

// Config is the transformers config.json of the converted model. Field order
// is the output order.
type Config struct {
	Architectures         []string    `json:"architectures"`
	ModelType             string      `json:"model_type"`
	HiddenSize            int         `json:"hidden_size"`
	IntermediateSize      int         `json:"intermediate_size"`
	NumHiddenLayers       int         `json:"num_hidden_layers"`
	NumAttentionHeads     int         `json:"num_attention_heads"`
	NumKeyValueHeads      int         `json:"num_key_value_heads"`
	VocabSize             int         `json:"vocab_size"`
	MaxPositionEmbeddings int         `json:"max_position_embeddings"`
	RMSNormEps            json.Number `json:"rms_norm_eps"`
	RopeTheta             json.Number `json:"rope_theta"`
	HiddenAct             string      `json:"hidden_act"`
	TieWordEmbeddings     bool        `json:"tie_word_embeddings"`
	BOSTokenID            int         `json:"bos_token_id"`
	EOSTokenID            int         `json:"eos_token_id"`
	TorchDType            string      `json:"torch_dtype"`
	AttentionBias         bool        `json:"attention_bias"`
	MLPBias               bool        `json:"mlp_bias"`
}

// Config returns the config.json content for the converted model. The fixed
// values are llama2.c's (model.py: norm_eps 1e-5, RoPE base 10000; its
// SentencePiece vocabularies put BOS at 1 and EOS at 2).
func (h Header) Config() Config {
	return Config{
		Architectures:         []string{"LlamaForCausalLM"},
		ModelType:             "llama",
		HiddenSize:            h.Dim,
		IntermediateSize:      h.HiddenDim,
		NumHiddenLayers:       h.NLayers,
		NumAttentionHeads:     h.NHeads,
		NumKeyValueHeads:      h.NKVHeads,
		VocabSize:             h.VocabSize,
		MaxPositionEmbeddings: h.SeqLen,
		RMSNormEps:            "1e-05",
		RopeTheta:             "10000.0",
		HiddenAct:             "silu",
		TieWordEmbeddings:     h.SharedClassifier,
		BOSTokenID:            1,
		EOSTokenID:            2,
		TorchDType:            "float32",
	}
}

// Inspect reads and validates the header of the v0 checkpoint at path and
// checks that the file size is exactly what the header implies.
func Inspect(path string) (Header, error) {
	f, _, h, err := openChecked(path)
	if err != nil {
		return Header{}, err
	}
	f.Close()
	return h, nil
}

func openChecked(binPath string) (*os.File, os.FileInfo, Header, error) {
	in, err := os.Open(binPath)
	if err != nil {
		return nil, nil, Header{}, fmt.Errorf("llama2c: %w", err)
	}
	fail := func(err error) (*os.File, os.FileInfo, Header, error) {
		in.Close()
		return nil, nil, Header{}, err
	}
	st, err := in.Stat()
	if err != nil {
		return fail(fmt.Errorf("llama2c: %w", err))
	}
	if !st.Mode().IsRegular() {
		return fail(fmt.Errorf("llama2c: %s: not a regular file", binPath))
	}
	h, err := ReadHeader(in)
	if err != nil {
		return fail(fmt.Errorf("llama2c: %s: %s", binPath, strings.TrimPrefix(err.Error(), "llama2c: ")))
	}
	if want, got := h.FileSize(), st.Size(); got != want {
		what := "truncated"
		if got > want {
			what = "has trailing bytes"
		}
		return fail(fmt.Errorf("llama2c: %s: file %s: %d bytes, but its header (dim %d, hidden %d, layers %d, heads %d, kv_heads %d, vocab %d, seq_len %d, shared classifier %v) implies %d",
			binPath, what, got, h.Dim, h.HiddenDim, h.NLayers, h.NHeads, h.NKVHeads, h.VocabSize, h.SeqLen, h.SharedClassifier, want))
	}
	return in, st, h, nil
}

// tensorPlan is one output tensor: where its rows come from in the v0 file.
type tensorPlan struct {
	name    string
	shape   []int64
	src     int64 // file offset of the first float
	rows    int
	cols    int
	permute int // head size for a RoPE row permutation, 0 for none
}

// plan lists the output tensors in the order they are written: the model's
// own order, embedding first, layer by layer.
func (h Header) plan() []tensorPlan {
	off := h.offsets()
	d, kv, hid := h.Dim, h.KVDim(), h.HiddenDim
	mat := func(name, sec string, l, rows, cols, perm int) tensorPlan {
		return tensorPlan{name: name, shape: []int64{int64(rows), int64(cols)},
			src: off[sec] + 4*int64(l)*int64(rows)*int64(cols), rows: rows, cols: cols, permute: perm}
	}
	vec := func(name, sec string, l int) tensorPlan {
		return tensorPlan{name: name, shape: []int64{int64(d)}, src: off[sec] + 4*int64(l)*int64(d), rows: 1, cols: d}
	}
	p := []tensorPlan{mat("model.embed_tokens.weight", "token_embedding", 0, h.VocabSize, d, 0)}
	for l := 0; l < h.NLayers; l++ {
		pre := "model.layers." + strconv.Itoa(l) + "."
		p = append(p,
			vec(pre+"input_layernorm.weight", "rms_att", l),
			mat(pre+"self_attn.q_proj.weight", "wq", l, d, d, h.HeadSize()),
			mat(pre+"self_attn.k_proj.weight", "wk", l, kv, d, h.HeadSize()),
			mat(pre+"self_attn.v_proj.weight", "wv", l, kv, d, 0),
			mat(pre+"self_attn.o_proj.weight", "wo", l, d, d, 0),
			vec(pre+"post_attention_layernorm.weight", "rms_ffn", l),
			mat(pre+"mlp.gate_proj.weight", "w1", l, hid, d, 0),
			mat(pre+"mlp.up_proj.weight", "w3", l, hid, d, 0),
			mat(pre+"mlp.down_proj.weight", "w2", l, d, hid, 0),
		)
	}
	p = append(p, vec("model.norm.weight", "rms_final", 0))
	if !h.SharedClassifier {
		p = append(p, mat("lm_head.weight", "wcls", 0, h.VocabSize, d, 0))
	}
	return p
}

// Convert reads the llama2.c v0 checkpoint at binPath and writes
// outDir/config.json and outDir/model.safetensors (F32, transformers' Llama
// tensor names, q/k rows permuted to rotate-half RoPE; freq_cis dropped since
// RoPE is recomputed). outDir is created if needed. Nothing is written unless
// the input is valid, an output never replaces the input, and a failure
// leaves no partial files.
func Convert(binPath, outDir string) (Header, error) {
	in, st, h, err := openChecked(binPath)
	if err != nil {
		return Header{}, err
	}
	defer in.Close()

	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Header{}, fmt.Errorf("llama2c: %w", err)
	}
	modelPath := filepath.Join(outDir, safetensors.SingleFileName)
	configPath := filepath.Join(outDir, "config.json")
	for _, p := range []string{modelPath, configPath} {
		if ost, err := os.Stat(p); err == nil && os.SameFile(st, ost) {
			return Header{}, fmt.Errorf("llama2c: refusing to write %s: it is the input file %s", p, binPath)
		}
	}

	cfg, err := json.MarshalIndent(h.Config(), "", "  ")
	if err != nil {
		return Header{}, fmt.Errorf("llama2c: %w", err)
	}
	cfgTmp, err := writeTemp(outDir, "config.json", append(cfg, '\n'))
	if err != nil {
		return Header{}, err
	}
	defer os.Remove(cfgTmp) // no-op once renamed

	if err := writeModel(in, h, modelPath, filepath.Base(binPath)); err != nil {
		return Header{}, err
	}
	if ost, err := os.Stat(configPath); err == nil && os.SameFile(st, ost) {
		return Header{}, fmt.Errorf("llama2c: refusing to write %s: it is the input file %s", configPath, binPath)
	}
	if err := os.Rename(cfgTmp, configPath); err != nil {
		return Header{}, fmt.Errorf("llama2c: %w", err)
	}
	return h, nil
}

func writeTemp(dir, base string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("llama2c: %w", err)
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("llama2c: %s: %w", filepath.Join(dir, base), err)
	}
	return name, nil
}

// chunkBytes bounds the memory used while streaming a tensor.
const chunkBytes = 4 << 20

func writeModel(in io.ReaderAt, h Header, path, source string) error {
	plan := h.plan()
	specs := make([]safetensors.TensorSpec, len(plan))
	for i, t := range plan {
		specs[i] = safetensors.TensorSpec{Name: t.name, DType: safetensors.F32, Shape: t.shape}
	}
	meta := map[string]string{"format": "pt", "source": "llama2.c v0 checkpoint " + source}
	w, err := safetensors.Create(path, specs, meta)
	if err != nil {
		return fmt.Errorf("llama2c: %w", err)
	}
	if err := streamTensors(in, w, plan); err != nil {
		w.Abort()
		return err
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("llama2c: %w", err)
	}
	return nil
}

func streamTensors(in io.ReaderAt, w *safetensors.Writer, plan []tensorPlan) error {
	var buf, perm []byte
	for _, t := range plan {
		rowBytes := 4 * int64(t.cols)
		total := rowBytes * int64(t.rows)
		// A block is a whole number of rows (a whole head when permuting,
		// since the permutation stays within a head).
		blockRows := int64(t.rows)
		if t.permute > 0 {
			blockRows = int64(t.permute)
		} else if total > chunkBytes {
			blockRows = max(1, chunkBytes/rowBytes)
		}
		for r := int64(0); r < int64(t.rows); r += blockRows {
			n := min(blockRows, int64(t.rows)-r)
			size := int(n * rowBytes)
			if cap(buf) < size {
				buf = make([]byte, size)
			}
			b := buf[:size]
			if _, err := in.ReadAt(b, t.src+r*rowBytes); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("llama2c: reading %s: %w", t.name, err)
			}
			if i := kernels.FirstNonFinite(b, kernels.ElemF32); i >= 0 {
				v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				return fmt.Errorf("llama2c: %s: element [%d, %d] is %v; a checkpoint must hold finite values", t.name, r+int64(i/t.cols), i%t.cols, v)
			}
			if t.permute > 0 {
				if cap(perm) < size {
					perm = make([]byte, size)
				}
				p := perm[:size]
				for dst := 0; dst < int(n); dst++ {
					src := hfRowSource(dst, t.permute)
					copy(p[int64(dst)*rowBytes:int64(dst+1)*rowBytes], b[int64(src)*rowBytes:int64(src+1)*rowBytes])
				}
				b = p
			}
			if err := w.WriteChunk(t.name, b); err != nil {
				return fmt.Errorf("llama2c: %w", err)
			}
		}
	}
	return nil
}
