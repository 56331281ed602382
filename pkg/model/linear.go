package model

import (
	"fmt"

	"github.com/ttqproject/ttq/pkg/kernels"
)

// Linear is a linear layer y = x·Wᵀ + b over row-major activations. The model
// calls its linear layers only through this interface, so a quantized layer
// or a calibration observer can replace a Dense one without the model code
// knowing.
type Linear interface {
	// In and Out are the input and output widths.
	In() int
	Out() int
	// Forward writes rows×Out() outputs for rows×In() inputs into dst.
	Forward(dst, x []float32, rows int)
}

// Dense is a full-precision linear layer whose weights stay in their stored
// element type (F32, F16 or BF16) and are decoded by the kernels as they are
// used.
type Dense struct {
	W    kernels.Weights
	Bias []float32 // nil when the layer has no bias
}

func (d *Dense) In() int  { return d.W.Cols }
func (d *Dense) Out() int { return d.W.Rows }

func (d *Dense) Forward(dst, x []float32, rows int) {
	kernels.MatMulT(dst, x, rows, d.W)
	d.addBias(dst, rows)
}

// ForwardRequant is Forward re-quantizing W·D into rq as the product reads
// W, the row blocks it does not take handed to redo
// (kernels.MatMulTRequant).
func (d *Dense) ForwardRequant(dst, x []float32, rows int, rq kernels.Requant4G32, redo kernels.RowVisitor) {
	kernels.MatMulTRequant(dst, x, rows, d.W, rq, redo)
	d.addBias(dst, rows)
}

func (d *Dense) addBias(dst []float32, rows int) {
	if d.Bias == nil {
		return
	}
	n := d.W.Rows
	for r := 0; r < rows; r++ {
		kernels.Add(dst[r*n:(r+1)*n], d.Bias)
	}
}

// Site names one linear layer of the model: a layer index and the Hugging
// Face module name within the layer ("self_attn.q_proj", "mlp.down_proj"...).
// The LM head is Site{Layer: -1, Name: "lm_head"}.
type Site struct {
	Layer int
	Name  string
}

func (s Site) String() string {
	if s.Layer < 0 {
		return s.Name
	}
	return fmt.Sprintf("model.layers.%d.%s", s.Layer, s.Name)
}

// LayerLinearNames lists the linear sites of one decoder layer in execution
// order.
var LayerLinearNames = []string{
	"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
	"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
}

// Sites returns every linear site of the model in execution order, the LM
// head last.
func (m *Model) Sites() []Site {
	var out []Site
	for l := range m.Layers {
		for _, name := range LayerLinearNames {
			out = append(out, Site{Layer: l, Name: name})
		}
	}
	return append(out, Site{Layer: -1, Name: "lm_head"})
}

func (m *Model) slot(s Site) (*Linear, error) {
	if s.Layer == -1 && s.Name == "lm_head" {
		return &m.LMHead, nil
	}
	if s.Layer < 0 || s.Layer >= len(m.Layers) {
		return nil, fmt.Errorf("model: no layer %d (model has %d)", s.Layer, len(m.Layers))
	}
	l := &m.Layers[s.Layer]
	switch s.Name {
	case "self_attn.q_proj":
		return &l.Attn.Q, nil
	case "self_attn.k_proj":
		return &l.Attn.K, nil
	case "self_attn.v_proj":
		return &l.Attn.V, nil
	case "self_attn.o_proj":
		return &l.Attn.O, nil
	case "mlp.gate_proj":
		return &l.MLP.Gate, nil
	case "mlp.up_proj":
		return &l.MLP.Up, nil
	case "mlp.down_proj":
		return &l.MLP.Down, nil
	}
	return nil, fmt.Errorf("model: unknown linear site %q", s.Name)
}

// Linear returns the layer at a site.
func (m *Model) Linear(s Site) (Linear, error) {
	p, err := m.slot(s)
	if err != nil {
		return nil, err
	}
	return *p, nil
}

// SetLinear replaces the layer at a site; the replacement must have the same
// shape.
func (m *Model) SetLinear(s Site, l Linear) error {
	p, err := m.slot(s)
	if err != nil {
		return err
	}
	if (*p).In() != l.In() || (*p).Out() != l.Out() {
		return fmt.Errorf("model: %s is %d→%d, replacement is %d→%d", s, (*p).In(), (*p).Out(), l.In(), l.Out())
	}
	*p = l
	return nil
}

// Observer sees the input activations of a linear layer before it runs:
// the hook through which calibration reads activations.
type Observer interface {
	Observe(s Site, x []float32, rows, cols int)
}

// Observed wraps a linear layer so that its inputs reach an observer first.
type Observed struct {
	Linear
	Site     Site
	Observer Observer
}

func (o *Observed) Forward(dst, x []float32, rows int) {
	o.Observer.Observe(o.Site, x[:rows*o.In()], rows, o.In())
	o.Linear.Forward(dst, x, rows)
}

// RequestScoped is implemented by linear layers that keep state for one
// request, such as test-time quantization calibrating on each prompt.
type RequestScoped interface {
	// BeginRequest forgets whatever the layer derived from the previous
	// request's inputs.
	BeginRequest()
}

// BeginRequest tells every request-scoped linear layer that a new, unrelated
// sequence starts. Forward calls it for every pass that starts at position 0
// (a new window, item or prompt); it is a no-op for static layers.
func (m *Model) BeginRequest() {
	for _, s := range m.Sites() {
		p, _ := m.slot(s)
		if rs, ok := (*p).(RequestScoped); ok {
			rs.BeginRequest()
		}
	}
}

// BeginRequest forwards to the wrapped layer, so that observing a layer does
// not hide its request scope.
func (o *Observed) BeginRequest() {
	if rs, ok := o.Linear.(RequestScoped); ok {
		rs.BeginRequest()
	}
}
