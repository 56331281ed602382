package model

import (
	"errors"
	"fmt"
	"math"

	"github.com/ttqproject/ttq/pkg/kernels"
)

// ErrContextFull is returned when a forward pass would run past the capacity
// of its State.
var ErrContextFull = errors.New("model: context is full")

// State is one sequence's key/value cache and scratch buffers. A State
// belongs to one goroutine at a time.
//
// The cache is laid out per key/value head: keys[l][(g*capacity+p)*HeadDim
// + d] is dimension d of head g's key at position p (values alike), so the
// keys and values one head attends to are one contiguous run that the
// matrix products read in place, and a decode step copies nothing but its
// own new rows.
type State struct {
	cfg      Config
	pos      int
	capacity int
	keys     [][]float32 // per layer, NumKVHeads × capacity × HeadDim
	values   [][]float32

	// Scratch, grown to the largest batch seen.
	x, xn, q, k, v, att, gate, up, cos, sin []float32
}

// NewState returns an empty cache for up to capacity positions.
func (m *Model) NewState(capacity int) *State {
	c := m.Config
	s := &State{cfg: c, capacity: capacity}
	s.keys = make([][]float32, c.NumLayers)
	s.values = make([][]float32, c.NumLayers)
	for l := range s.keys {
		s.keys[l] = make([]float32, capacity*c.KVDim())
		s.values[l] = make([]float32, capacity*c.KVDim())
	}
	return s
}

// Pos is the number of positions already in the cache.
func (s *State) Pos() int { return s.pos }

// Capacity is the number of positions the cache holds.
func (s *State) Capacity() int { return s.capacity }

// Reset empties the cache, keeping its memory.
func (s *State) Reset() { s.pos = 0 }

// Truncate drops cached positions from n on, so that a shared prefix can be
// reused with different continuations.
func (s *State) Truncate(n int) {
	if n < 0 || n > s.pos {
		panic("model: Truncate out of range")
	}
	s.pos = n
}

func (s *State) grow(t int) {
	c := s.cfg
	need := func(b *[]float32, n int) {
		if cap(*b) < n {
			*b = make([]float32, n)
		}
		*b = (*b)[:n]
	}
	need(&s.x, t*c.HiddenSize)
	need(&s.xn, t*max(c.HiddenSize, c.QDim()))
	need(&s.q, t*c.QDim())
	need(&s.k, t*c.KVDim())
	need(&s.v, t*c.KVDim())
	need(&s.att, t*c.QDim())
	need(&s.gate, t*c.IntermediateSize)
	need(&s.up, t*c.IntermediateSize)
	need(&s.cos, t*c.HeadDim/2)
	need(&s.sin, t*c.HeadDim/2)
}

// Logits selects which positions a forward pass returns logits for.
type Logits int

const (
	// LastLogits returns the logits of the last token only (vocab values).
	LastLogits Logits = iota
	// AllLogits returns tokens × vocab logits.
	AllLogits
)

// Forward runs tokens through the model at positions s.Pos()…, appends their
// keys and values to the cache and returns logits. A batch of T tokens is
// processed as matrix products (prefill); T = 1 is incremental decoding.
// A pass at position 0 begins a new request (see BeginRequest); layers with
// per-request state make a model unsafe for concurrent Forward calls.
func (m *Model) Forward(s *State, tokens []int, which Logits) ([]float32, error) {
	return m.ForwardInto(nil, s, tokens, which)
}

// ForwardInto is Forward writing the logits into dst's memory when its
// capacity suffices (as append(dst[:0], …) would): a decode loop that hands
// back the previous step's logits allocates nothing per token (#9).
func (m *Model) ForwardInto(dst []float32, s *State, tokens []int, which Logits) ([]float32, error) {
	c := m.Config
	t := len(tokens)
	if t == 0 {
		return nil, errors.New("model: Forward with no tokens")
	}
	if s.pos+t > s.capacity {
		return nil, fmt.Errorf("%w: %d cached + %d new positions exceed the capacity of %d", ErrContextFull, s.pos, t, s.capacity)
	}
	for _, id := range tokens {
		if id < 0 || id >= c.VocabSize {
			return nil, fmt.Errorf("model: token id %d out of range [0, %d)", id, c.VocabSize)
		}
	}
	if s.pos == 0 {
		// A pass from position 0 starts a new sequence: request-scoped
		// layers (test-time quantization) forget the previous one and
		// calibrate on this one.
		m.BeginRequest()
	}
	s.grow(t)
	h := c.HiddenSize
	x := s.x
	for i, id := range tokens {
		m.Embed.Row(x[i*h:(i+1)*h], id)
	}
	cos, sin := m.rotary(s.cos, s.sin, s.pos, t)
	eps := float32(c.RMSNormEps)
	for l := range m.Layers {
		layer := &m.Layers[l]
		xn := s.xn[:t*h]
		kernels.RMSNorm(xn, x, layer.AttnNorm, eps)
		m.attention(s, l, xn, t, cos, sin)
		// The attention output projection writes into xn, then joins the
		// residual stream.
		layer.Attn.O.Forward(xn, s.att, t)
		kernels.Add(x, xn)

		kernels.RMSNorm(xn, x, layer.MLPNorm, eps)
		layer.MLP.Gate.Forward(s.gate, xn, t)
		layer.MLP.Up.Forward(s.up, xn, t)
		kernels.SiLUMul(s.gate, s.up)
		layer.MLP.Down.Forward(xn, s.gate, t)
		kernels.Add(x, xn)
	}
	s.pos += t

	first := 0
	if which == LastLogits {
		first = t - 1
	}
	rows := t - first
	xn := s.xn[:rows*h]
	kernels.RMSNorm(xn, x[first*h:], m.Norm, eps)
	logits := dst[:0]
	if cap(logits) < rows*c.VocabSize {
		logits = make([]float32, rows*c.VocabSize)
	}
	logits = logits[:rows*c.VocabSize]
	m.LMHead.Forward(logits, xn, rows)
	// Finite weights can still overflow (or a replacement layer misbehave):
	// a NaN here would become a NaN perplexity or a silent argmax of 0.
	if i := kernels.FirstNonFiniteF32(logits); i >= 0 {
		pos := s.pos - t + first + i/c.VocabSize
		return nil, nonFinitef("model: the forward pass computed a non-finite logit (%v) at position %d, token id %d", logits[i], pos, i%c.VocabSize)
	}
	return logits, nil
}

// rotary fills cos and sin (at least t × HeadDim/2 each) with the tables for
// positions pos…pos+t-1 and returns them cut to that length. Angles are
// formed in float64 so that large positions lose no precision.
func (m *Model) rotary(cos, sin []float32, pos, t int) ([]float32, []float32) {
	half := m.Config.HeadDim / 2
	cos, sin = cos[:t*half], sin[:t*half]
	for i := 0; i < t; i++ {
		p := float64(pos + i)
		for j, f := range m.invFreq {
			sn, cs := math.Sincos(p * f)
			cos[i*half+j] = float32(cs)
			sin[i*half+j] = float32(sn)
		}
	}
	return cos, sin
}

// applyRotary rotates each head of x (t rows of heads×headDim) in place with
// Hugging Face's rotate-half convention: element i pairs with i + headDim/2.
func applyRotary(x []float32, t, heads, headDim int, cos, sin []float32) {
	half := headDim / 2
	for i := 0; i < t; i++ {
		cs, sn := cos[i*half:(i+1)*half], sin[i*half:(i+1)*half]
		for hd := 0; hd < heads; hd++ {
			v := x[(i*heads+hd)*headDim : (i*heads+hd+1)*headDim]
			for j := 0; j < half; j++ {
				a, b := v[j], v[j+half]
				v[j] = a*cs[j] - b*sn[j]
				v[j+half] = b*cs[j] + a*sn[j]
			}
		}
	}
}

// attention computes grouped-query causal self-attention of t new tokens
// (normalized input xn) into s.att, appending their keys and values to the
// cache of layer l.
func (m *Model) attention(s *State, l int, xn []float32, t int, cos, sin []float32) {
	c := m.Config
	a := &m.Layers[l].Attn
	hd, kvd := c.HeadDim, c.KVDim()
	a.Q.Forward(s.q, xn, t)
	a.K.Forward(s.k, xn, t)
	a.V.Forward(s.v, xn, t)
	eps := float32(c.RMSNormEps)
	if a.QNorm != nil {
		kernels.RMSNorm(s.q, s.q, a.QNorm, eps)
		kernels.RMSNorm(s.k, s.k, a.KNorm, eps)
	}
	applyRotary(s.q, t, c.NumHeads, hd, cos, sin)
	applyRotary(s.k, t, c.NumKVHeads, hd, cos, sin)
	keys, values := s.keys[l], s.values[l]
	for i := 0; i < t; i++ {
		for g := 0; g < c.NumKVHeads; g++ {
			src := s.k[i*kvd+g*hd : i*kvd+(g+1)*hd]
			dst := (g*s.capacity + s.pos + i) * hd
			copy(keys[dst:dst+hd], src)
			copy(values[dst:dst+hd], s.v[i*kvd+g*hd:i*kvd+(g+1)*hd])
		}
	}

	m.attend(s, l, t)
}

// attnBlock is how many new tokens are scored together; blocks bound the
// score matrix and skip most of the masked upper triangle.
const attnBlock = 64

// attend computes softmax(q·kᵀ/√d)·v for the t new queries against all
// cached keys, as two matrix products per key/value head and query block,
// so that the GEMM kernels do the work on the cache in place. The queries
// of all heads sharing a key/value head (grouped-query attention) are
// stacked into one product, query by query: row i·group + r is query i of
// the block for head g·group + r, so that a decode step's rows are already
// adjacent in s.q and its output rows in s.att.
func (m *Model) attend(s *State, l, t int) {
	blocks := (t + attnBlock - 1) / attnBlock
	attendParallel.For(m.Config.NumKVHeads*blocks, 1, attendArgs{m, s, l, t})
}

type attendArgs struct {
	m    *Model
	s    *State
	l, t int
}

// attendParallel runs attend's (key/value head, query block) items.
var attendParallel = kernels.NewParallel(func(a *attendArgs, lo, hi int) {
	c, s, l, t := &a.m.Config, a.s, a.l, a.t
	hd := c.HeadDim
	group := c.NumHeads / c.NumKVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	pos0 := s.pos
	blocks := (t + attnBlock - 1) / attnBlock
	// Scratch outlives the call in a pool: decoding runs this once per
	// token and layer, and fresh buffers each time would dominate.
	buf := attnScratchPool.Get()
	defer attnScratchPool.Put(buf)
	qh, sc, oh := buf.qh, buf.sc, buf.oh
	defer func() { buf.qh, buf.sc, buf.oh = qh, sc, oh }()
	for item := lo; item < hi; item++ {
		g, b := item/blocks, item%blocks
		i0, i1 := b*attnBlock, min((b+1)*attnBlock, t)
		bt := i1 - i0
		n := pos0 + i1 // keys visible to the block's last query
		first := 0
		if c.SlidingWindow > 0 {
			first = max(0, pos0+i0-c.SlidingWindow+1)
		}
		nk := n - first
		head := g * s.capacity * hd
		kh := s.keys[l][head+first*hd : head+n*hd]
		vh := s.values[l][head+first*hd : head+n*hd]
		rows := group * bt
		// Query i's group of heads is one run of s.q (and of s.att).
		run := func(buf []float32, i int) []float32 {
			at := ((i0+i)*c.NumHeads + g*group) * hd
			return buf[at : at+group*hd]
		}
		q := run(s.q, 0)
		if bt > 1 {
			qh = grow(qh, rows*hd)
			for i := 0; i < bt; i++ {
				copy(qh[i*group*hd:(i+1)*group*hd], run(s.q, i))
			}
			q = qh
		}
		// A decode step's scores grow by one a token and head: made for
		// the whole cache at once, they are not made again every step (#9).
		reserve := rows * nk
		if bt == 1 {
			reserve = rows * (s.capacity - first)
		}
		sc = growFor(sc, rows*nk, reserve)
		if bt == 1 {
			// A decode step's few rows: the cache read in place.
			kernels.AttnScores(sc, q, rows, kh, nk, hd)
		} else {
			kernels.MatMulT(sc, q, rows, kernels.NewWeightsF32(nk, hd, kh))
		}
		for i := 0; i < bt; i++ {
			p := pos0 + i0 + i
			lo := 0
			if c.SlidingWindow > 0 {
				lo = max(0, p-c.SlidingWindow+1) - first
			}
			for r := 0; r < group; r++ {
				row := sc[(i*group+r)*nk : (i*group+r+1)*nk]
				kernels.SoftmaxInPlace(row[lo:p+1-first], scale)
				clear(row[:lo])
				clear(row[p+1-first:])
			}
		}
		if bt == 1 {
			kernels.AttnValues(run(s.att, 0), sc, rows, vh, nk, hd)
			continue
		}
		oh = grow(oh, rows*hd)
		kernels.MatMul(oh, sc, rows, vh, nk, hd, hd)
		for i := 0; i < bt; i++ {
			copy(run(s.att, i), oh[i*group*hd:(i+1)*group*hd])
		}
	}
})

type attnScratch struct{ qh, sc, oh []float32 }

var attnScratchPool kernels.FreeList[attnScratch]

func grow(b []float32, n int) []float32 { return growFor(b, n, n) }

// growFor is grow making room for reserve values when it must allocate.
func growFor(b []float32, n, reserve int) []float32 {
	if cap(b) < n {
		return make([]float32, n, max(n, reserve))
	}
	return b[:n]
}

// StateBytes estimates the memory of a State of the given capacity running
// batches of up to batch tokens: the key/value cache, the activation
// scratch and the returned logits. Commands compare it with the memory the
// machine has before allocating.
func (c Config) StateBytes(capacity, batch int) int64 {
	kv := 2 * int64(c.NumLayers) * int64(capacity) * int64(c.KVDim())
	per := int64(c.HiddenSize + max(c.HiddenSize, c.QDim()) + 2*c.QDim() + 2*c.KVDim() + 2*c.IntermediateSize + c.HeadDim + c.VocabSize)
	return 4 * (kv + int64(batch)*per)
}
