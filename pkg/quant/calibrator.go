package quant

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// Calibrator is one quantization method. Apply replaces the decoder
// layers' linear sites of m (q/k/v/o, gate/up/down; embeddings, norms and
// the LM head stay in full precision, as in the papers) with quantized
// layers. Static methods leave *QLinear layers computed from calib, the
// token sequences of the calibration set; test-time methods install
// request-scoped layers that calibrate on each prompt and ignore calib.
type Calibrator interface {
	Name() string
	Apply(ctx context.Context, m *model.Model, calib [][]int, progress Progress) error
}

// Progress is told when each decoder layer (block) is done; nil is allowed.
type Progress func(done, total int)

func (p Progress) report(done, total int) {
	if p != nil {
		p(done, total)
	}
}

// Options configure every method; each reads the fields it needs.
type Options struct {
	Format Format
	Ragged Ragged
	AWQ    AWQOptions
	GPTQ   GPTQOptions
	TTQ    TTQOptions
	// LMHeadBits > 0 also rounds the LM head to nearest at that many bits
	// (with Format's grid, group and scales) after the method has run; 0
	// keeps it in full precision, as the papers do. llama.cpp's Q4_0 and
	// Q8_0 files quantize it too (to their own type), and in a decode step
	// of a 1B model a 32000 × 2048 BF16 head is a fifth of the bytes read.
	LMHeadBits int `json:",omitempty"` // omitted at 0: compare's cache keys of earlier runs stay valid
	// Checkpoint, when set, lets the layer-sequential methods (AWQ, GPTQ)
	// save each finished layer and continue an interrupted run.
	Checkpoint *Checkpointer `json:"-"`
}

// Checkpointer connects a layer-sequential Apply to storage of its
// finished layers. The first Done layers were quantized by an earlier run
// with the same inputs and options: Apply installs them with Restore,
// recomputes from them the inputs of the next layer exactly as the
// uninterrupted run did, and quantizes the rest, calling Save after each.
// The result equals the uninterrupted run's bit for bit.
type Checkpointer struct {
	Done    int
	Restore func(m *model.Model, layer int) error
	Save    func(m *model.Model, layer int) error
}

func (c *Checkpointer) done() int {
	if c == nil {
		return 0
	}
	return c.Done
}

func (c *Checkpointer) restore(m *model.Model, l int) error {
	if err := c.Restore(m, l); err != nil {
		return fmt.Errorf("quant: resuming at layer %d: %w", l, err)
	}
	return nil
}

func (c *Checkpointer) save(m *model.Model, l int) error {
	if c == nil || c.Save == nil {
		return nil
	}
	if err := c.Save(m, l); err != nil {
		return fmt.Errorf("quant: saving layer %d: %w", l, err)
	}
	return nil
}

// Method is one entry of the registry.
type Method struct {
	Name string
	Desc string
	// TestTime methods calibrate per request at inference time; they cannot
	// be saved as a static checkpoint.
	TestTime bool
	// NeedsData methods require calibration sequences.
	NeedsData bool
	// Grid is the method's default rounding grid (METHODS §1).
	Grid Grid
	// Group is the method's default group size.
	Group int
	New   func(Options) (Calibrator, error)
}

var registry = []Method{
	{Name: "rtn", Desc: "round to nearest per group, min/max range; no data", Grid: GridMinMax, Group: 128,
		New: func(o Options) (Calibrator, error) { return &RTN{Opts: o}, nil }},
	{Name: "awq", Desc: "activation-aware scaling (20-point α grid) + clipping search, AutoAWQ procedure", NeedsData: true, Grid: GridMinMax, Group: 128,
		New: func(o Options) (Calibrator, error) { return &AWQ{Opts: o}, nil }},
	{Name: "gptq", Desc: "second-order error compensation with the calibration Hessian, IST-DASLab procedure", NeedsData: true, Grid: GridMinMax0, Group: 128,
		New: func(o Options) (Calibrator, error) { return &GPTQ{Opts: o}, nil }},
	{Name: "ttq", Desc: "test-time: per-prompt D = (‖X_i‖² + λ)^α, Ŵ = Q(W·D)·D⁻¹ at every prefill", TestTime: true, Grid: GridMinMax, Group: 32,
		New: func(o Options) (Calibrator, error) { return &TTQ{Opts: o}, nil }},
}

// Methods lists the registry in a fixed order.
func Methods() []Method { return append([]Method(nil), registry...) }

// Lookup finds a method by name.
func Lookup(name string) (Method, error) {
	var names []string
	for _, m := range registry {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return Method{}, fmt.Errorf("quant: unknown method %q (known: %s)", name, strings.Join(names, ", "))
}

// DefaultOptions returns the defaults of a method: 4 bits, its grid and
// group size, f32 scales, ragged last groups, and each method's published
// hyper-parameters.
func DefaultOptions(method string) (Options, error) {
	m, err := Lookup(method)
	if err != nil {
		return Options{}, err
	}
	return Options{
		Format: Format{Bits: 4, Group: m.Group, Grid: m.Grid, Scale: ScaleF32},
		Ragged: RaggedLastGroup,
		AWQ:    DefaultAWQOptions(),
		GPTQ:   DefaultGPTQOptions(),
		TTQ:    DefaultTTQOptions(),
	}, nil
}

// New builds the calibrator of a method.
func New(method string, o Options) (Calibrator, error) {
	m, err := Lookup(method)
	if err != nil {
		return nil, err
	}
	if err := o.Format.Validate(); err != nil {
		return nil, err
	}
	if _, ok := raggedNames[o.Ragged]; !ok {
		return nil, fmt.Errorf("quant: invalid ragged policy %v", o.Ragged)
	}
	if o.LMHeadBits < 0 {
		return nil, fmt.Errorf("quant: LM head bits %d < 0 (0 keeps it in full precision)", o.LMHeadBits)
	}
	c, err := m.New(o)
	if err != nil || o.LMHeadBits == 0 {
		return c, err
	}
	head := o.Format
	head.Bits = o.LMHeadBits
	if err := head.Validate(); err != nil {
		return nil, fmt.Errorf("quant: LM head: %w", err)
	}
	return &withLMHead{Calibrator: c, format: head, ragged: o.Ragged}, nil
}

// withLMHead runs a method, then rounds the LM head to nearest.
type withLMHead struct {
	Calibrator
	format Format
	ragged Ragged
}

func (w *withLMHead) Apply(ctx context.Context, m *model.Model, calib [][]int, progress Progress) error {
	if err := w.Calibrator.Apply(ctx, m, calib, progress); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := model.Site{Layer: -1, Name: "lm_head"}
	wts, rows, cols, bias, err := denseWeights(m, s)
	if err != nil {
		return err
	}
	return setRTN(m, s, wts, rows, cols, bias, Options{Format: w.format, Ragged: w.ragged})
}

// formatFor applies the ragged policy to a matrix of cols inputs; keep
// means the matrix stays in full precision.
func (o Options) formatFor(site model.Site, cols int) (f Format, keep bool, err error) {
	f = o.Format
	if !f.Ragged(cols) {
		return f, false, nil
	}
	switch o.Ragged {
	case RaggedError:
		return f, false, fmt.Errorf("quant: %s has %d inputs, which group size %d does not divide (choose --ragged last-group, per-row or keep)", site, cols, f.Group)
	case RaggedPerRow:
		f.Group = -1
		return f, false, nil
	case RaggedKeep:
		return f, true, nil
	}
	return f, false, nil
}

// layerSites are the sites a method quantizes in decoder layer l.
func layerSites(l int) []model.Site {
	out := make([]model.Site, len(model.LayerLinearNames))
	for i, n := range model.LayerLinearNames {
		out[i] = model.Site{Layer: l, Name: n}
	}
	return out
}

// errQuantized is returned when a method meets a layer that is already
// quantized (calibrators start from a full-precision model).
var errQuantized = errors.New("already quantized")

// denseWeights decodes a full-precision linear layer to float32.
func denseWeights(m *model.Model, s model.Site) (w []float32, rows, cols int, bias []float32, err error) {
	d, err := denseLinear(m, s)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	rows, cols = d.W.Rows, d.W.Cols
	w = make([]float32, rows*cols)
	d.W.RowsTo(w, 0, rows)
	return w, rows, cols, d.Bias, nil
}

// denseLinear is the full-precision linear at s.
func denseLinear(m *model.Model, s model.Site) (*model.Dense, error) {
	l, err := m.Linear(s)
	if err != nil {
		return nil, err
	}
	if o, ok := l.(*model.Observed); ok {
		l = o.Linear
	}
	d, ok := l.(*model.Dense)
	if !ok {
		return nil, fmt.Errorf("quant: %s: %w (%T); methods need a full-precision model", s, errQuantized, l)
	}
	return d, nil
}

// denseF32 wraps float32 weights as a model.Dense.
func denseF32(w []float32, rows, cols int, bias []float32) *model.Dense {
	return &model.Dense{W: kernels.NewWeightsF32(rows, cols, w), Bias: bias}
}

// RTN rounds every weight to nearest (METHODS §1).
type RTN struct{ Opts Options }

func (r *RTN) Name() string { return "rtn" }

// Apply quantizes every decoder-layer linear of m; calib is ignored.
func (r *RTN) Apply(ctx context.Context, m *model.Model, _ [][]int, progress Progress) error {
	for l := range m.Layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		for _, s := range layerSites(l) {
			w, rows, cols, bias, err := denseWeights(m, s)
			if err != nil {
				return err
			}
			if err := r.set(m, s, w, rows, cols, bias); err != nil {
				return err
			}
		}
		progress.report(l+1, len(m.Layers))
	}
	return nil
}

func (r *RTN) set(m *model.Model, s model.Site, w []float32, rows, cols int, bias []float32) error {
	return setRTN(m, s, w, rows, cols, bias, r.Opts)
}

// setRTN installs the RTN quantization of w at s (or w itself when the
// ragged policy keeps the matrix).
func setRTN(m *model.Model, s model.Site, w []float32, rows, cols int, bias []float32, o Options) error {
	f, keep, err := o.formatFor(s, cols)
	if err != nil {
		return err
	}
	if keep {
		return replaceLinear(m, s, denseF32(w, rows, cols, bias))
	}
	q, err := Quantize(w, rows, cols, f)
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	q.Bias = bias
	return replaceLinear(m, s, q)
}

// replaceLinear installs l at s in place of a full-precision linear that
// nothing will read again, and lets the checkpoint's pages of the old
// weights leave the resident set: a calibration then holds one layer of
// the full-precision checkpoint at a time, not all of them.
func replaceLinear(m *model.Model, s model.Site, l model.Linear) error {
	old, err := m.Linear(s)
	if err != nil {
		return err
	}
	if err := m.SetLinear(s, l); err != nil {
		return err
	}
	if o, ok := old.(*model.Observed); ok {
		old = o.Linear
	}
	if d, ok := old.(*model.Dense); ok {
		m.ReleasePages(d.W.Data)
	}
	return nil
}
