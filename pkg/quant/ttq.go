package quant

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// Stat is the per-input-channel activation statistic TTQ raises to α.
type Stat uint8

const (
	// StatSumSq is ‖X_i‖² = Σ_t x_{t,i}² (the paper's formula as
	// reconstructed in METHODS §2.2); it grows with the prompt length.
	StatSumSq Stat = iota + 1
	// StatMeanSq is Σ_t x_{t,i}² / T.
	StatMeanSq
	// StatMeanAbs is Σ_t |x_{t,i}| / T, AWQ's s_X.
	StatMeanAbs
)

var statNames = map[Stat]string{StatSumSq: "sumsq", StatMeanSq: "meansq", StatMeanAbs: "meanabs"}

func (s Stat) String() string {
	if n, ok := statNames[s]; ok {
		return n
	}
	return "Stat(" + strconv.Itoa(int(s)) + ")"
}

// ParseStat accepts "sumsq", "meansq" and "meanabs".
func ParseStat(s string) (Stat, error) {
	for k, n := range statNames {
		if n == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("quant: unknown TTQ statistic %q (want sumsq, meansq or meanabs)", s)
}

// TTQOptions are TTQ's knobs (METHODS §2.4).
type TTQOptions struct {
	Alpha  float64
	Lambda float64
	Stat   Stat
	// Window is the number of leading prompt tokens the statistics are
	// taken from; 0 means every token of the prefill ("full"). prefix:N
	// keeps the scored tokens of a perplexity window from shaping their
	// own weights.
	Window int
	// Rank > 0 splits W = B·A + R with a rank-Rank truncated SVD of W,
	// kept in full precision, and quantizes only R per prompt.
	Rank int
	// Prefill says how the prompt itself is computed; the later steps of
	// a request always run on the quantized weights.
	Prefill Prefill
}

// Prefill is how a TTQ layer computes the prompt whose statistics it takes.
type Prefill uint8

const (
	// PrefillQuantized, the paper's scoring (METHODS §2): the prompt runs
	// on the weights quantized for it, so its perplexity measures them.
	PrefillQuantized Prefill = iota
	// PrefillDense runs the prompt at full precision while its statistics
	// are taken, then quantizes once for the decode steps: a request costs
	// the full-precision prefill plus one re-quantization, and every
	// generated token is a quantized one.
	PrefillDense
)

var prefillNames = map[Prefill]string{PrefillQuantized: "quantized", PrefillDense: "dense"}

func (p Prefill) String() string {
	if n, ok := prefillNames[p]; ok {
		return n
	}
	return fmt.Sprintf("Prefill(%d)", uint8(p))
}

// ParsePrefill accepts "quantized" and "dense".
func ParsePrefill(s string) (Prefill, error) {
	for p, n := range prefillNames {
		if n == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("quant: TTQ prefill %q: want quantized or dense", s)
}

// DefaultTTQOptions: α = 0.5, λ = 0.1, Σx², full window, no low rank.
func DefaultTTQOptions() TTQOptions {
	return TTQOptions{Alpha: 0.5, Lambda: 0.1, Stat: StatSumSq}
}

// WindowString is "full" or "prefix:N".
func (o TTQOptions) WindowString() string {
	if o.Window <= 0 {
		return "full"
	}
	return "prefix:" + strconv.Itoa(o.Window)
}

// ParseWindow accepts "full" and "prefix:N" (N ≥ 1).
func ParseWindow(s string) (int, error) {
	if s == "full" {
		return 0, nil
	}
	if n, ok := strings.CutPrefix(s, "prefix:"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 1 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("quant: TTQ window %q: want full or prefix:N with N ≥ 1", s)
}

func (o TTQOptions) validate() error {
	switch {
	case !(o.Alpha >= 0 && o.Alpha <= 1):
		return fmt.Errorf("quant: TTQ α = %g outside [0, 1]", o.Alpha)
	case !(o.Lambda >= 0) || math.IsInf(o.Lambda, 0):
		return fmt.Errorf("quant: TTQ λ = %g must be finite and ≥ 0", o.Lambda)
	case o.Window < 0:
		return fmt.Errorf("quant: TTQ window %d < 0", o.Window)
	case o.Rank < 0:
		return fmt.Errorf("quant: TTQ rank %d < 0", o.Rank)
	}
	if _, ok := statNames[o.Stat]; !ok {
		return fmt.Errorf("quant: invalid TTQ statistic %v", o.Stat)
	}
	if _, ok := prefillNames[o.Prefill]; !ok {
		return fmt.Errorf("quant: invalid TTQ prefill %v", o.Prefill)
	}
	return nil
}

// TTQ installs test-time quantized layers (METHODS §2).
type TTQ struct{ Opts Options }

func (t *TTQ) Name() string { return "ttq" }

// Apply wraps every decoder-layer linear of m in a TTQLinear; calib is
// ignored. With Rank > 0 the SVD of each matrix is computed here, once.
func (t *TTQ) Apply(ctx context.Context, m *model.Model, _ [][]int, progress Progress) error {
	if err := t.Opts.TTQ.validate(); err != nil {
		return err
	}
	for l := range m.Layers {
		// q/k/v read one input (the attention norm's output) and gate/up
		// another: each group computes D once per request (METHODS §2.4).
		attnIn, mlpIn := new(sharedScales), new(sharedScales)
		for _, s := range layerSites(l) {
			if err := ctx.Err(); err != nil {
				return err
			}
			lin, err := m.Linear(s)
			if err != nil {
				return err
			}
			d, ok := lin.(*model.Dense)
			if !ok {
				return fmt.Errorf("quant: %s: %w (%T); TTQ needs a full-precision model", s, errQuantized, lin)
			}
			f, keep, err := t.Opts.formatFor(s, d.In())
			if err != nil {
				return err
			}
			if keep {
				continue
			}
			tl, err := NewTTQLinear(d, f, t.Opts.TTQ)
			if err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			switch s.Name {
			case "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj":
				tl.shared = attnIn
			case "mlp.gate_proj", "mlp.up_proj":
				tl.shared = mlpIn
			}
			if err := m.SetLinear(s, tl); err != nil {
				return err
			}
		}
		progress.report(l+1, len(m.Layers))
	}
	return nil
}

// TTQLinear quantizes a full-precision layer anew for every request: the
// first Forward after BeginRequest (the prompt's prefill) measures its
// input, builds Q(W·D) with D⁻¹ folded into the activations, and every
// later Forward of the request (decode steps, multiple-choice
// continuations) reuses it. A TTQLinear serves one request at a time, so
// each request re-quantizes into the same buffers: fresh ones per request
// cost more in page faults than the quantization itself.
type TTQLinear struct {
	base   *model.Dense
	format Format
	opts   TTQOptions
	// Low-rank split (Rank > 0): W = B·A + R.
	a, b kernels.Weights // A: Rank×In, B: Out×Rank
	r    []float32       // R: Out×In

	mu  sync.Mutex
	cur *QLinear
	// own holds the buffers every request re-quantizes into.
	own *QLinear
	// shared, when set, holds D for the layers that read the same input.
	shared *sharedScales

	calibNanos atomic.Int64
	calibCount atomic.Int64
}

// NewTTQLinear prepares a test-time quantized layer over d.
func NewTTQLinear(d *model.Dense, f Format, o TTQOptions) (*TTQLinear, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	t := &TTQLinear{base: d, format: f, opts: o}
	if o.Rank > 0 {
		if err := t.lowRank(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// lowRank computes the truncated SVD split of W in float64.
func (t *TTQLinear) lowRank() error {
	rows, cols := t.base.W.Rows, t.base.W.Cols
	k := t.opts.Rank
	if k >= min(rows, cols) {
		return fmt.Errorf("quant: TTQ rank %d must be below min(%d, %d)", k, rows, cols)
	}
	w := make([]float32, rows*cols)
	t.base.W.RowsTo(w, 0, rows)
	w64 := make([]float64, len(w))
	for i, v := range w {
		w64[i] = float64(v)
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(rows, cols, w64), mat.SVDThin) {
		return fmt.Errorf("quant: SVD did not converge")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	sv := svd.Values(nil)
	bm := make([]float32, rows*k)
	am := make([]float32, k*cols)
	for i := 0; i < rows; i++ {
		for j := 0; j < k; j++ {
			bm[i*k+j] = float32(u.At(i, j) * sv[j])
		}
	}
	for j := 0; j < k; j++ {
		for c := 0; c < cols; c++ {
			am[j*cols+c] = float32(v.At(c, j))
		}
	}
	t.a = kernels.NewWeightsF32(k, cols, am)
	t.b = kernels.NewWeightsF32(rows, k, bm)
	// R = W − B·A with the float32 factors actually used at inference.
	ba := make([]float32, rows*cols)
	kernels.MatMulT(ba, bm, rows, kernels.NewWeightsF32(cols, k, transpose(am, k, cols)))
	t.r = make([]float32, rows*cols)
	for i := range w {
		t.r[i] = w[i] - ba[i]
	}
	return nil
}

func transpose(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[j*rows+i] = x[i*cols+j]
		}
	}
	return out
}

func (t *TTQLinear) In() int  { return t.base.In() }
func (t *TTQLinear) Out() int { return t.base.Out() }

// BeginRequest implements model.RequestScoped: the next Forward calibrates.
func (t *TTQLinear) BeginRequest() {
	t.mu.Lock()
	t.cur = nil
	t.mu.Unlock()
	if t.shared != nil {
		t.shared.reset()
	}
}

// sharedScales remembers the D computed for one input of one request, so
// that the other layers reading the same activations (q/k/v, gate/up) skip
// recomputing the statistics. The input is recognized by its backing array
// and row count; BeginRequest clears it, because the model reuses its
// buffers from one request to the next.
type sharedScales struct {
	mu   sync.Mutex
	x    *float32
	rows int
	d    []float64
}

func (s *sharedScales) reset() {
	s.mu.Lock()
	s.x, s.d = nil, nil
	s.mu.Unlock()
}

func (s *sharedScales) get(x []float32, rows int, compute func() []float64) []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d != nil && len(x) > 0 && s.x == &x[0] && s.rows == rows {
		return s.d
	}
	s.d = compute()
	if len(x) > 0 {
		s.x, s.rows = &x[0], rows
	}
	return s.d
}

// Forward implements model.Linear.
// LowRankBits is the storage, in bits, of the full-precision low-rank
// factors A and B that --ttq-rank keeps beside the quantized residual
// (r·(In + Out) numbers as they are held, float32); 0 without them. They
// count in bits per weight like scales and zeros do.
func (t *TTQLinear) LowRankBits() float64 {
	return 8 * float64(t.a.Bytes()+t.b.Bytes())
}

func (t *TTQLinear) Forward(dst, x []float32, rows int) {
	t.mu.Lock()
	q := t.cur
	prefill := q == nil
	if prefill {
		start := time.Now()
		if t.own == nil {
			t.own = t.newQuantized()
		}
		t.calibrateInto(t.own, x, rows)
		q, t.cur = t.own, t.own
		t.calibNanos.Add(int64(time.Since(start)))
		t.calibCount.Add(1)
	}
	t.mu.Unlock()
	if prefill && t.opts.Prefill == PrefillDense {
		t.base.Forward(dst, x, rows)
		return
	}
	q.Forward(dst, x, rows)
	if t.opts.Rank > 0 {
		n, k := t.Out(), t.opts.Rank
		xa := getScratch(rows * k)
		lr := getScratch(rows * n)
		kernels.MatMulT(*xa, x, rows, t.a)
		kernels.MatMulT(*lr, *xa, rows, t.b)
		kernels.Add(dst[:rows*n], *lr)
		scratch.Put(xa)
		scratch.Put(lr)
	}
}

// Scales returns D for the given activations (rows × In): the statistic
// over the window's rows, plus λ, to the power α. Entries that come out
// zero or non-finite (a dead channel with λ = 0) are set to 1, as AutoAWQ
// does for its scales, so that D⁻¹ stays finite.
func (t *TTQLinear) Scales(x []float32, rows int) []float64 {
	return ttqScales(x, rows, t.In(), t.opts)
}

func ttqScales(x []float32, rows, cols int, o TTQOptions) []float64 {
	n := rows
	if o.Window > 0 {
		n = min(n, o.Window)
	}
	st := make([]float64, cols)
	if o.Stat == StatMeanAbs {
		kernels.ColumnSumAbs(st, x, n)
	} else {
		kernels.ColumnSumSq(st, x, n)
	}
	for c := range st {
		if o.Stat != StatSumSq && n > 0 {
			st[c] /= float64(n)
		}
		d := math.Pow(st[c]+o.Lambda, o.Alpha)
		if !(d > 0) || math.IsInf(d, 0) {
			d = 1
		}
		st[c] = d
	}
	return st
}

// Calibrate builds a quantized layer from activations x (rows × In): codes
// of Q(W·D) (of R·D with low rank) and InScale = D⁻¹. The layer is the
// caller's; Forward re-quantizes into buffers of its own instead.
func (t *TTQLinear) Calibrate(x []float32, rows int) *QLinear {
	q := t.newQuantized()
	t.calibrateInto(q, x, rows)
	return q
}

func (t *TTQLinear) newQuantized() *QLinear {
	q := NewQLinear(t.format, t.Out(), t.In())
	q.InScale = make([]float32, t.In())
	q.Bias = t.base.Bias
	return q
}

// calibrateInto overwrites q (from newQuantized) with the layer for x.
func (t *TTQLinear) calibrateInto(q *QLinear, x []float32, rows int) {
	var d []float64
	if t.shared != nil {
		d = t.shared.get(x, rows, func() []float64 { return t.Scales(x, rows) })
	} else {
		d = t.Scales(x, rows)
	}
	n, k := t.Out(), t.In()
	d32 := make([]float32, k)
	for c, v := range d {
		d32[c] = float32(v)
		q.InScale[c] = 1 / d32[c]
	}
	f := t.format
	ng, rb := f.NumGroups(k), f.RowBytes(k)
	src := t.base.W
	if t.r != nil {
		src = kernels.NewWeightsF32(n, k, t.r)
	}
	// TTQ's default format has a fused kernel (one pass from the stored
	// weights to packed codes); rows it does not take go the general way,
	// which computes the same codes.
	fused := f.Bits == 4 && f.Group == 32 && f.Grid == GridMinMax
	kernels.ParallelFor(n, 8, func(lo, hi int) {
		w := make([]float32, k)
		codes := make([]uint8, k)
		sc := make([]float32, ng)
		zs := make([]int32, ng)
		var tmp []float32
		if fused {
			tmp = make([]float32, kernels.RequantScratch(k))
		}
		for r := lo; r < hi; r++ {
			if fused && kernels.RequantRow4G32(q.Q[r*rb:(r+1)*rb], q.Scales[r*ng:(r+1)*ng], q.Zeros[r*ng:(r+1)*ng],
				src, r, d32, f.Scale == ScaleF16, tmp) {
				continue
			}
			src.Row(w, r)
			quantizeRowScaled(codes, sc, zs, w, d32, f)
			q.SetRow(r, codes, sc, zs)
		}
	})
}

// TTQStats sums, over m's TTQ layers, the time spent calibrating and the
// number of calibrations since the model was quantized.
func TTQStats(m *model.Model) (time.Duration, int) {
	var d time.Duration
	var n int
	for _, s := range m.Sites() {
		l, err := m.Linear(s)
		if err != nil {
			continue
		}
		if t, ok := l.(*TTQLinear); ok {
			d += time.Duration(t.calibNanos.Load())
			n += int(t.calibCount.Load())
		}
	}
	return d, n
}
