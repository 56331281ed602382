// Package transform holds function-preserving rewrites of a model's
// weights: changes that leave the full-precision outputs the same but change
// what a quantizer sees.
//
// PlantOutliers makes a small model behave like a large one for
// quantization. Large LLMs have a few hidden channels whose activations are
// orders of magnitude larger than the rest, and those channels are what makes
// activation-aware methods (AWQ, TTQ) beat round-to-nearest; models small
// enough to run on a laptop CPU barely have them. The transform multiplies N
// channels of every decoder layer's RMSNorm weight by K and divides the
// matching input columns of the linear layers that read that norm's output
// by K:
//
//	input_layernorm          → q_proj, k_proj, v_proj
//	post_attention_layernorm → gate_proj, up_proj
//
// RMSNorm is y = x/rms(x) ⊙ w, so y's planted channels grow K-fold and
// W·y is unchanged once W's columns shrink K-fold: the model computes the
// same function (exactly, when K is a power of two, since scaling by a
// power of two is exact in floating point away from under- and overflow).
// A quantizer now faces weight columns K times smaller than their
// neighbours behind K-fold activations, as in large models: round-to-nearest
// flushes those columns to the grid's coarse steps and loses exactly the
// channels that matter most.
//
// The final norm (model.norm, read by lm_head) is left alone: lm_head stays
// in full precision under every method (METHODS §1), so outliers there would
// stress nothing, and with tied embeddings the division would also change
// the embedding table.
package transform

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// Plant is a planted-outlier transform.
type Plant struct {
	// Factor is K, the multiplier of the planted norm channels.
	Factor float64 `json:"factor"`
	// Channels are the planted hidden channels, the same in every layer
	// (large models' outlier dimensions are shared across layers too).
	Channels []int `json:"channels"`
}

// Spec is a parsed "K:N" with the seed that picks the channels.
type Spec struct {
	Factor float64
	N      int
	Seed   uint64
}

// ParseSpec reads "K:N": a factor K > 1 and a channel count N ≥ 1.
func ParseSpec(s string) (Spec, error) {
	k, n, ok := strings.Cut(s, ":")
	if !ok {
		return Spec{}, fmt.Errorf("transform: outlier spec %q: want K:N (factor:channels, e.g. 32:4)", s)
	}
	f, err := strconv.ParseFloat(k, 64)
	if err != nil || !(f > 1) || math.IsInf(f, 0) {
		return Spec{}, fmt.Errorf("transform: outlier factor %q: want a finite number > 1", k)
	}
	c, err := strconv.Atoi(n)
	if err != nil || c < 1 {
		return Spec{}, fmt.Errorf("transform: outlier channel count %q: want an integer ≥ 1", n)
	}
	return Spec{Factor: f, N: c}, nil
}

func (s Spec) String() string {
	return strconv.FormatFloat(s.Factor, 'g', -1, 64) + ":" + strconv.Itoa(s.N)
}

// NewPlant picks s.N of hidden channels with a seeded generator: a fixed,
// reproducible choice that does not favour the first channels.
func NewPlant(s Spec, hidden int) (Plant, error) {
	if s.N < 1 || s.N > hidden {
		return Plant{}, fmt.Errorf("transform: %d outlier channels of a hidden size of %d", s.N, hidden)
	}
	if !(s.Factor > 0) || math.IsInf(s.Factor, 0) {
		return Plant{}, fmt.Errorf("transform: outlier factor %v", s.Factor)
	}
	r := rand.New(rand.NewPCG(s.Seed, 0x9e3779b97f4a7c15))
	ch := r.Perm(hidden)[:s.N]
	slices.Sort(ch)
	return Plant{Factor: s.Factor, Channels: ch}, nil
}

func (p Plant) validate(hidden int) error {
	if !(p.Factor > 0) || math.IsInf(p.Factor, 0) {
		return fmt.Errorf("transform: outlier factor %v", p.Factor)
	}
	if len(p.Channels) == 0 {
		return errors.New("transform: no outlier channels")
	}
	seen := map[int]bool{}
	for _, c := range p.Channels {
		if c < 0 || c >= hidden || seen[c] {
			return fmt.Errorf("transform: outlier channel %d invalid or repeated for a hidden size of %d", c, hidden)
		}
		seen[c] = true
	}
	return nil
}

// Apply plants the outliers into m in memory. The norms and the q/k/v and
// gate/up layers are replaced by transformed copies (float32), so m's
// checkpoint mapping is never written to. The linear layers must still be
// full precision (*model.Dense): plant before quantizing.
func (p Plant) Apply(m *model.Model) error {
	h := m.Config.HiddenSize
	if err := p.validate(h); err != nil {
		return err
	}
	for i := range m.Layers {
		l := &m.Layers[i]
		norms := []struct {
			w     *[]float32
			sites []string
		}{
			{&l.AttnNorm, []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}},
			{&l.MLPNorm, []string{"mlp.gate_proj", "mlp.up_proj"}},
		}
		// Check every site of the layer before changing anything, so a
		// failure leaves the model as it was (up to earlier layers).
		for _, n := range norms {
			for _, name := range n.sites {
				s := model.Site{Layer: i, Name: name}
				lin, err := m.Linear(s)
				if err != nil {
					return err
				}
				if _, ok := lin.(*model.Dense); !ok {
					return fmt.Errorf("transform: %s is %T, not a full-precision layer: plant outliers before quantizing", s, lin)
				}
			}
		}
		for _, n := range norms {
			w := slices.Clone(*n.w)
			for _, c := range p.Channels {
				w[c] = float32(float64(w[c]) * p.Factor)
			}
			*n.w = w
			for _, name := range n.sites {
				s := model.Site{Layer: i, Name: name}
				lin, _ := m.Linear(s)
				d := lin.(*model.Dense)
				nd, err := p.divideColumns(d)
				if err != nil {
					return fmt.Errorf("transform: %s: %w", s, err)
				}
				if err := m.SetLinear(s, nd); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// divideColumns returns a float32 copy of d with the planted input columns
// divided by the factor.
func (p Plant) divideColumns(d *model.Dense) (*model.Dense, error) {
	rows, cols := d.W.Rows, d.W.Cols
	w := make([]float32, rows*cols)
	d.W.RowsTo(w, 0, rows)
	p.divide(w, rows, cols)
	return &model.Dense{W: kernels.NewWeightsF32(rows, cols, w), Bias: d.Bias}, nil
}

func (p Plant) divide(w []float32, rows, cols int) {
	for r := range rows {
		row := w[r*cols : (r+1)*cols]
		for _, c := range p.Channels {
			row[c] = float32(float64(row[c]) / p.Factor)
		}
	}
}

// CheckpointTensors returns the tensors of a checkpoint with the outliers
// planted, in the checkpoint's name order, each in its stored dtype: what a
// transformed model.safetensors holds. Untouched tensors alias ck's data
// (valid until ck is closed).
func (p Plant) CheckpointTensors(cfg model.Config, ck *safetensors.Checkpoint) ([]safetensors.Tensor, error) {
	h := cfg.HiddenSize
	if err := p.validate(h); err != nil {
		return nil, err
	}
	norms := map[string]bool{}
	linears := map[string]bool{}
	for i := range cfg.NumLayers {
		pre := fmt.Sprintf("model.layers.%d.", i)
		norms[pre+"input_layernorm.weight"] = true
		norms[pre+"post_attention_layernorm.weight"] = true
		for _, s := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"} {
			linears[pre+s+".weight"] = true
		}
	}
	var out []safetensors.Tensor
	for _, name := range ck.Names() {
		t, err := ck.Tensor(name)
		if err != nil {
			return nil, err
		}
		isNorm, isLin := norms[name], linears[name]
		if !isNorm && !isLin {
			out = append(out, t)
			continue
		}
		delete(norms, name)
		delete(linears, name)
		elem, ok := t.DType.Elem()
		if !ok {
			return nil, fmt.Errorf("transform: %s has dtype %s, which cannot be transformed", name, t.DType)
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("transform: %s: %w", name, err)
		}
		if isNorm {
			if len(t.Shape) != 1 || t.Shape[0] != int64(h) {
				return nil, fmt.Errorf("transform: %s has shape %v, want [%d]", name, t.Shape, h)
			}
			for _, c := range p.Channels {
				v[c] = float32(float64(v[c]) * p.Factor)
			}
		} else {
			if len(t.Shape) != 2 || t.Shape[1] != int64(h) {
				return nil, fmt.Errorf("transform: %s has shape %v, want [out, %d]", name, t.Shape, h)
			}
			p.divide(v, int(t.Shape[0]), h)
		}
		data := make([]byte, len(v)*elem.Size())
		kernels.FromFloat32(data, v, elem)
		t.Data = data
		out = append(out, t)
	}
	for name := range norms {
		return nil, fmt.Errorf("transform: the checkpoint has no %s", name)
	}
	for name := range linears {
		return nil, fmt.Errorf("transform: the checkpoint has no %s (quantized checkpoints cannot be planted)", name)
	}
	return out, nil
}
