package model

import (
	"errors"
	"fmt"
	"io"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// Model is a Llama-family decoder (Llama 2/3, Mistral, Qwen2, Qwen3) whose
// structure mirrors the checkpoint: an embedding, decoder layers of attention
// and a SwiGLU MLP each behind an RMSNorm with a residual, a final norm and
// the LM head.
type Model struct {
	Config Config
	// Embed is the token embedding [vocab][hidden] in its stored type.
	Embed  kernels.Weights
	Layers []Layer
	Norm   []float32
	LMHead Linear

	invFreq []float64
	closer  io.Closer
}

// Layer is one decoder block.
type Layer struct {
	AttnNorm []float32
	Attn     Attention
	MLPNorm  []float32
	MLP      MLP
}

// Attention holds the projections of grouped-query attention. QNorm and
// KNorm are Qwen3's per-head norms (nil elsewhere).
type Attention struct {
	Q, K, V, O   Linear
	QNorm, KNorm []float32
}

// MLP is the SwiGLU feed-forward block: Down(silu(Gate(x)) · Up(x)).
type MLP struct {
	Gate, Up, Down Linear
}

// TensorSource supplies checkpoint tensors by Hugging Face name; a
// safetensors.Checkpoint is one.
type TensorSource interface {
	Tensor(name string) (safetensors.Tensor, error)
	Has(name string) bool
}

// pageReleaser is a tensor source mapped from files that can drop a
// tensor's pages from the resident set (safetensors.Checkpoint).
type pageReleaser interface{ ReleasePages(data []byte) }

// ReleasePages tells the model that data, the bytes of one of its
// checkpoint's tensors, will not be read again soon (a calibrator has
// replaced the layer): where the checkpoint is mapped from disk its pages
// leave the process's resident set, and they are read back from the file
// if data is touched again, so nothing that still holds data breaks. It
// does nothing for memory the checkpoint does not map.
func (m *Model) ReleasePages(data []byte) {
	if r, ok := m.closer.(pageReleaser); ok {
		r.ReleasePages(data)
	}
}

// Close releases the checkpoint mappings the model's weights point into.
func (m *Model) Close() error {
	if m.closer == nil {
		return nil
	}
	err := m.closer.Close()
	m.closer = nil
	return err
}

// NumParams counts the parameters of the checkpoint's tensors (the tied LM
// head counted once).
func (m *Model) NumParams() int64 {
	c := m.Config
	n := int64(c.VocabSize) * int64(c.HiddenSize) // embedding
	if !m.tied() {
		n += int64(c.VocabSize) * int64(c.HiddenSize)
	}
	n += int64(c.HiddenSize) // final norm
	per := int64(2 * c.HiddenSize)
	per += int64(c.HiddenSize) * int64(c.QDim()+2*c.KVDim())
	per += int64(c.QDim()) * int64(c.HiddenSize)
	per += 3 * int64(c.HiddenSize) * int64(c.IntermediateSize)
	if c.QKVBias {
		per += int64(c.QDim() + 2*c.KVDim())
	}
	if c.OBias {
		per += int64(c.HiddenSize)
	}
	if c.MLPBias {
		per += int64(2*c.IntermediateSize + c.HiddenSize)
	}
	if c.QKNorm {
		per += int64(2 * c.HeadDim)
	}
	return n + per*int64(c.NumLayers)
}

func (m *Model) tied() bool {
	d, ok := m.LMHead.(*Dense)
	return ok && len(d.W.Data) > 0 && len(m.Embed.Data) > 0 && &d.W.Data[0] == &m.Embed.Data[0]
}

// New builds a model from a config and the checkpoint's tensors, checking
// every shape. Weights are not copied: they keep pointing into src, so src
// must stay open while the model is used (closer, if non-nil, is closed by
// Model.Close).
func New(cfg Config, src TensorSource, closer io.Closer) (*Model, error) {
	m := &Model{Config: cfg, closer: closer}
	h, v := cfg.HiddenSize, cfg.VocabSize
	var err error
	if m.Embed, err = weights(src, "model.embed_tokens.weight", v, h); err != nil {
		return nil, err
	}
	if m.Norm, err = vector(src, "model.norm.weight", h); err != nil {
		return nil, err
	}
	// Tied checkpoints may still carry lm_head.weight (a copy); untied ones
	// that lack it are treated as tied, as transformers does on load.
	if !cfg.TieWordEmbeddings && src.Has("lm_head.weight") {
		w, err := weights(src, "lm_head.weight", v, h)
		if err != nil {
			return nil, err
		}
		m.LMHead = &Dense{W: w}
	} else {
		m.LMHead = &Dense{W: m.Embed}
	}
	m.Layers = make([]Layer, cfg.NumLayers)
	for i := range m.Layers {
		if err := m.loadLayer(src, i); err != nil {
			return nil, err
		}
	}
	m.invFreq = cfg.Rope.InvFreq(cfg.HeadDim)
	return m, nil
}

func (m *Model) loadLayer(src TensorSource, i int) error {
	c := m.Config
	p := fmt.Sprintf("model.layers.%d.", i)
	l := &m.Layers[i]
	var err error
	if l.AttnNorm, err = vector(src, p+"input_layernorm.weight", c.HiddenSize); err != nil {
		return err
	}
	if l.MLPNorm, err = vector(src, p+"post_attention_layernorm.weight", c.HiddenSize); err != nil {
		return err
	}
	lin := func(name string, out, in int, bias bool) (Linear, error) {
		w, err := weights(src, p+name+".weight", out, in)
		if err != nil {
			return nil, err
		}
		d := &Dense{W: w}
		if bias {
			if d.Bias, err = vector(src, p+name+".bias", out); err != nil {
				return nil, err
			}
		}
		return d, nil
	}
	h, q, kv, in := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
	if l.Attn.Q, err = lin("self_attn.q_proj", q, h, c.QKVBias); err != nil {
		return err
	}
	if l.Attn.K, err = lin("self_attn.k_proj", kv, h, c.QKVBias); err != nil {
		return err
	}
	if l.Attn.V, err = lin("self_attn.v_proj", kv, h, c.QKVBias); err != nil {
		return err
	}
	if l.Attn.O, err = lin("self_attn.o_proj", h, q, c.OBias); err != nil {
		return err
	}
	if c.QKNorm {
		if l.Attn.QNorm, err = vector(src, p+"self_attn.q_norm.weight", c.HeadDim); err != nil {
			return err
		}
		if l.Attn.KNorm, err = vector(src, p+"self_attn.k_norm.weight", c.HeadDim); err != nil {
			return err
		}
	}
	if l.MLP.Gate, err = lin("mlp.gate_proj", in, h, c.MLPBias); err != nil {
		return err
	}
	if l.MLP.Up, err = lin("mlp.up_proj", in, h, c.MLPBias); err != nil {
		return err
	}
	if l.MLP.Down, err = lin("mlp.down_proj", h, in, c.MLPBias); err != nil {
		return err
	}
	return nil
}

func checkShape(t safetensors.Tensor, dims ...int) error {
	ok := len(t.Shape) == len(dims)
	for i := 0; ok && i < len(dims); i++ {
		ok = t.Shape[i] == int64(dims[i])
	}
	if !ok {
		return fmt.Errorf("tensor %s has shape %v, the config implies %v", t.Name, t.Shape, dims)
	}
	return nil
}

func weights(src TensorSource, name string, rows, cols int) (kernels.Weights, error) {
	t, err := src.Tensor(name)
	if err != nil {
		return kernels.Weights{}, err
	}
	if err := checkShape(t, rows, cols); err != nil {
		return kernels.Weights{}, err
	}
	e, ok := t.DType.Elem()
	if !ok {
		return kernels.Weights{}, fmt.Errorf("tensor %s has dtype %s; supported: F32, F16, BF16", name, t.DType)
	}
	w := kernels.Weights{Elem: e, Rows: rows, Cols: cols, Data: t.Data}
	if !w.Validate() {
		return kernels.Weights{}, fmt.Errorf("tensor %s: %d bytes for shape %v", name, len(t.Data), t.Shape)
	}
	if i := kernels.FirstNonFinite(w.Data, e); i >= 0 {
		v := make([]float32, 1)
		kernels.ToFloat32(v, w.Data[i*e.Size():], e)
		return kernels.Weights{}, nonFiniteTensor(name, t.Shape, i, v[0])
	}
	// The scan paged the whole tensor in; what runs next pages in what it
	// reads (a calibration one layer at a time, GPTQ never the LM head).
	if r, ok := src.(pageReleaser); ok {
		r.ReleasePages(w.Data)
	}
	return w, nil
}

func vector(src TensorSource, name string, n int) ([]float32, error) {
	t, err := src.Tensor(name)
	if err != nil {
		return nil, err
	}
	if err := checkShape(t, n); err != nil {
		return nil, err
	}
	return FiniteFloat32s(t)
}

// FiniteFloat32s decodes a float tensor like Tensor.Float32s and refuses one
// holding a NaN or ±Inf, naming the tensor and the first bad element.
func FiniteFloat32s(t safetensors.Tensor) ([]float32, error) {
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	if i := kernels.FirstNonFiniteF32(v); i >= 0 {
		return nil, nonFiniteTensor(t.Name, t.Shape, i, v[i])
	}
	return v, nil
}

// ErrNonFinite matches (errors.Is) the errors that report a NaN or ±Inf:
// in a checkpoint's tensor, or computed by a forward pass.
var ErrNonFinite = errors.New("non-finite value")

type nonFiniteError struct{ msg string }

func (e nonFiniteError) Error() string        { return e.msg }
func (e nonFiniteError) Is(target error) bool { return target == ErrNonFinite }

func nonFinitef(format string, args ...any) error {
	return nonFiniteError{fmt.Sprintf(format, args...)}
}

// nonFiniteTensor describes a NaN or ±Inf at flat index i of a tensor of the
// given shape, with its row and column when the tensor is a matrix.
func nonFiniteTensor(name string, shape []int64, i int, v float32) error {
	at := fmt.Sprintf("element %d", i)
	if len(shape) == 2 && shape[1] > 0 {
		at = fmt.Sprintf("element [%d, %d]", int64(i)/shape[1], int64(i)%shape[1])
	}
	return nonFinitef("tensor %s: %s is %v; a checkpoint must hold finite values", name, at, v)
}
