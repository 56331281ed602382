package quant

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/x448/float16"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// CheckpointFormat is the value of the "ttq.format" metadata key that
// marks a ttq quantized checkpoint.
const CheckpointFormat = "ttq-quant/v1"

// Checkpoint layout (one safetensors file, Hugging Face names): full
// precision tensors keep their names and stored types (norms as F32, since
// AWQ rescales them); each quantized linear NAME (e.g.
// model.layers.0.self_attn.q_proj) is stored as
//
//	NAME.qweight     U8  [out, RowBytes(in)]    codes packed per the format table
//	NAME.scales      F32|F16 [out, groups]
//	NAME.qzeros      U8  [out, RowBytes(groups)] zero points packed likewise (asymmetric grids)
//	NAME.g_idx       I32 [in]                   group of each input (GPTQ act-order only)
//	NAME.input_scale F32 [in]                   multiplier of the input (only if set)
//	NAME.bias        F32 [out]
//
// and the file's metadata records the format of every quantized linear
// (ttq.format.NAME) besides the run's description.

// Metadata keys written by Save.
const (
	MetaFormat  = "ttq.format"
	MetaMethod  = "ttq.method"
	MetaVersion = "ttq.version"
	metaLayer   = "ttq.layer_format."
)

// Save writes m's tensors to dir/model.safetensors. meta is added to the
// file's metadata (method, bits, group, calibration hash, version...). The
// output depends only on the model and meta, so identical runs give
// identical bytes.
func Save(dir string, m *model.Model, meta map[string]string) error {
	ts := newTensorSet(meta)
	ts.weights("model.embed_tokens.weight", m.Embed)
	tied := false
	if d, ok := m.LMHead.(*model.Dense); ok && len(d.W.Data) > 0 && len(m.Embed.Data) > 0 && &d.W.Data[0] == &m.Embed.Data[0] {
		tied = true
	}
	for _, s := range m.Sites() {
		if s.Layer >= 0 && s.Name == model.LayerLinearNames[0] {
			ts.layerNorms(m, s.Layer)
		}
		if s.Layer < 0 {
			ts.f32("model.norm.weight", m.Norm)
			if tied {
				continue
			}
		}
		if err := ts.linear(m, s); err != nil {
			return err
		}
	}
	return ts.write(filepath.Join(dir, safetensors.SingleFileName))
}

// SaveLayer writes decoder layer l's norms and linears, stored as Save
// stores them, to the safetensors file path (atomically: a crash leaves the
// old file or the new one). A long quantization keeps one per finished
// layer so that it can resume (LoadLayer).
func SaveLayer(path string, m *model.Model, l int) error {
	if l < 0 || l >= len(m.Layers) {
		return fmt.Errorf("quant: SaveLayer: layer %d of %d", l, len(m.Layers))
	}
	ts := newTensorSet(nil)
	ts.layerNorms(m, l)
	for _, s := range layerSites(l) {
		if err := ts.linear(m, s); err != nil {
			return err
		}
	}
	return ts.write(path)
}

// LoadLayer installs into m the norms and linears of decoder layer l that
// SaveLayer wrote to path. The file is read into memory, so the model does
// not keep it open.
func LoadLayer(path string, m *model.Model, l int) error {
	if l < 0 || l >= len(m.Layers) {
		return fmt.Errorf("quant: LoadLayer: layer %d of %d", l, len(m.Layers))
	}
	buf, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := safetensors.FromBytes(path, buf)
	if err != nil {
		return err
	}
	ck, err := safetensors.CheckpointFromFiles(f)
	if err != nil {
		return err
	}
	meta := ck.Metadata()
	shapes := siteShapes(m.Config)
	p := fmt.Sprintf("model.layers.%d.", l)
	ly := &m.Layers[l]
	type norm struct {
		name string
		dst  *[]float32
	}
	norms := []norm{{"input_layernorm.weight", &ly.AttnNorm}, {"post_attention_layernorm.weight", &ly.MLPNorm}}
	if ly.Attn.QNorm != nil {
		norms = append(norms, norm{"self_attn.q_norm.weight", &ly.Attn.QNorm}, norm{"self_attn.k_norm.weight", &ly.Attn.KNorm})
	}
	loaded := map[*[]float32][]float32{}
	for _, n := range norms {
		t, err := ck.Tensor(p + n.name)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		v, err := t.Float32s()
		if err != nil || len(v) != len(*n.dst) {
			return fmt.Errorf("%s: %s: %d values, want %d (%v)", path, p+n.name, len(v), len(*n.dst), err)
		}
		loaded[n.dst] = v
	}
	lins := map[model.Site]model.Linear{}
	for _, s := range layerSites(l) {
		name, sh := s.String(), shapes[s.String()]
		var lin model.Linear
		if fs, ok := meta[metaLayer+name]; ok {
			f, err := ParseFormat(fs)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", path, name, err)
			}
			if lin, err = loadQLinear(ck, name, f, sh[0], sh[1]); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		} else {
			t, err := ck.Tensor(name + ".weight")
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			e, ok := t.DType.Elem()
			if !ok || len(t.Shape) != 2 || t.Shape[0] != int64(sh[0]) || t.Shape[1] != int64(sh[1]) {
				return fmt.Errorf("%s: %s.weight is %s %v, want [%d %d]", path, name, t.DType, t.Shape, sh[0], sh[1])
			}
			d := &model.Dense{W: kernels.Weights{Elem: e, Rows: sh[0], Cols: sh[1], Data: t.Data}}
			if ck.Has(name + ".bias") {
				bt, err := ck.Tensor(name + ".bias")
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if d.Bias, err = bt.Float32s(); err != nil || len(d.Bias) != sh[0] {
					return fmt.Errorf("%s: %s.bias: %d values, want %d (%v)", path, name, len(d.Bias), sh[0], err)
				}
			}
			lin = d
		}
		lins[s] = lin
	}
	// Nothing is installed until the whole file has been read and checked.
	for _, s := range layerSites(l) {
		if err := replaceLinear(m, s, lins[s]); err != nil {
			return err
		}
	}
	for dst, v := range loaded {
		*dst = v
	}
	return nil
}

// tensorSet collects the tensors of a checkpoint file in order, each with
// the function that writes its bytes.
type tensorSet struct {
	specs   []safetensors.TensorSpec
	writers []func(w *safetensors.Writer) error
	md      map[string]string
}

func newTensorSet(meta map[string]string) *tensorSet {
	md := map[string]string{MetaFormat: CheckpointFormat}
	for k, v := range meta {
		md[k] = v
	}
	return &tensorSet{md: md}
}

func (ts *tensorSet) raw(name string, dt safetensors.DType, shape []int64, data []byte) {
	ts.specs = append(ts.specs, safetensors.TensorSpec{Name: name, DType: dt, Shape: shape})
	ts.writers = append(ts.writers, func(w *safetensors.Writer) error { return w.Write(name, data) })
}

func (ts *tensorSet) f32(name string, v []float32) {
	ts.raw(name, safetensors.F32, []int64{int64(len(v))}, f32Bytes(v))
}

func (ts *tensorSet) weights(name string, w kernels.Weights) {
	ts.raw(name, safetensors.DTypeOf(w.Elem), []int64{int64(w.Rows), int64(w.Cols)}, w.Data)
}

// layerNorms adds decoder layer l's norms (F32, since AWQ rescales them).
func (ts *tensorSet) layerNorms(m *model.Model, l int) {
	p := fmt.Sprintf("model.layers.%d.", l)
	ly := &m.Layers[l]
	ts.f32(p+"input_layernorm.weight", ly.AttnNorm)
	ts.f32(p+"post_attention_layernorm.weight", ly.MLPNorm)
	if ly.Attn.QNorm != nil {
		ts.f32(p+"self_attn.q_norm.weight", ly.Attn.QNorm)
		ts.f32(p+"self_attn.k_norm.weight", ly.Attn.KNorm)
	}
}

// linear adds site s: dense weights in their stored type, or a QLinear's
// packed codes, scales, zero points, group indices and input scale.
func (ts *tensorSet) linear(m *model.Model, s model.Site) error {
	lin, err := m.Linear(s)
	if err != nil {
		return err
	}
	name := s.String()
	switch l := lin.(type) {
	case *model.Dense:
		ts.weights(name+".weight", l.W)
		if l.Bias != nil {
			ts.f32(name+".bias", l.Bias)
		}
	case *QLinear:
		f := l.Format
		ng := f.NumGroups(l.Cols)
		ts.md[metaLayer+name] = f.String()
		ts.raw(name+".qweight", safetensors.U8, []int64{int64(l.Rows), int64(f.RowBytes(l.Cols))}, l.Q)
		scales := make([]byte, 0, len(l.Scales)*f.Scale.Bytes())
		for _, v := range l.Scales {
			if f.Scale == ScaleF16 {
				scales = binary.LittleEndian.AppendUint16(scales, float16.Fromfloat32(v).Bits())
			} else {
				scales = binary.LittleEndian.AppendUint32(scales, math.Float32bits(v))
			}
		}
		sdt := safetensors.F32
		if f.Scale == ScaleF16 {
			sdt = safetensors.F16
		}
		ts.raw(name+".scales", sdt, []int64{int64(l.Rows), int64(ng)}, scales)
		if l.Zeros != nil {
			zb := f.RowBytes(ng)
			z := make([]byte, l.Rows*zb)
			for r := 0; r < l.Rows; r++ {
				packRow(z[r*zb:(r+1)*zb], l.Zeros[r*ng:(r+1)*ng], f.Bits)
			}
			ts.raw(name+".qzeros", safetensors.U8, []int64{int64(l.Rows), int64(zb)}, z)
		}
		if l.GIdx != nil {
			b := make([]byte, 0, 4*len(l.GIdx))
			for _, g := range l.GIdx {
				b = binary.LittleEndian.AppendUint32(b, uint32(g))
			}
			ts.raw(name+".g_idx", safetensors.I32, []int64{int64(len(l.GIdx))}, b)
		}
		if l.InScale != nil {
			ts.f32(name+".input_scale", l.InScale)
		}
		if l.Bias != nil {
			ts.f32(name+".bias", l.Bias)
		}
	default:
		return fmt.Errorf("quant: %s is a %T, which cannot be saved (test-time methods are applied at inference)", s, lin)
	}
	return nil
}

func (ts *tensorSet) write(path string) error {
	w, err := safetensors.Create(path, ts.specs, ts.md)
	if err != nil {
		return err
	}
	for _, fn := range ts.writers {
		if err := fn(w); err != nil {
			return err
		}
	}
	return w.Close()
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// IsCheckpoint reports whether dir holds a ttq quantized checkpoint.
func IsCheckpoint(dir string) bool {
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return false
	}
	defer ck.Close()
	return ck.Metadata()[MetaFormat] == CheckpointFormat
}

// Load opens a checkpoint written by Save: the model with QLinear layers
// whose packed codes stay in the file's read-only mapping, and the file's
// metadata.
func Load(dir string) (*model.Model, map[string]string, error) {
	cfg, err := model.LoadConfig(dir)
	if err != nil {
		return nil, nil, err
	}
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, nil, err
	}
	m, meta, err := FromCheckpoint(cfg, ck)
	if err != nil {
		ck.Close()
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	return m, meta, nil
}

// FromCheckpoint builds a model from an opened quantized checkpoint, which
// the model then owns (Model.Close closes it).
func FromCheckpoint(cfg model.Config, ck *safetensors.Checkpoint) (*model.Model, map[string]string, error) {
	meta := ck.Metadata()
	if meta[MetaFormat] != CheckpointFormat {
		return nil, nil, fmt.Errorf("quant: not a ttq quantized checkpoint (metadata %s = %q)", MetaFormat, meta[MetaFormat])
	}
	shapes := siteShapes(cfg)
	quantized := map[string]Format{}
	maxBytes := 0
	for name, sh := range shapes {
		if !ck.Has(name + ".qweight") {
			continue
		}
		fs, ok := meta[metaLayer+name]
		if !ok {
			return nil, nil, fmt.Errorf("quant: %s.qweight has no %s%s metadata", name, metaLayer, name)
		}
		f, err := ParseFormat(fs)
		if err != nil {
			return nil, nil, fmt.Errorf("quant: %s: %w", name, err)
		}
		quantized[name] = f
		maxBytes = max(maxBytes, 4*sh[0]*sh[1])
	}
	// model.New wants a float tensor for every weight; quantized sites get
	// a zero placeholder (one shared buffer, never written) that SetLinear
	// replaces right away.
	src := &placeholderSource{ck: ck, shapes: shapes, quantized: quantized, zeros: make([]byte, maxBytes)}
	m, err := model.New(cfg, src, ck)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range m.Sites() {
		f, ok := quantized[s.String()]
		if !ok {
			continue
		}
		sh := shapes[s.String()]
		q, err := loadQLinear(ck, s.String(), f, sh[0], sh[1])
		if err != nil {
			return nil, nil, err
		}
		if err := m.SetLinear(s, q); err != nil {
			return nil, nil, err
		}
	}
	return m, meta, nil
}

// siteShapes gives [out, in] of every linear site from the config.
func siteShapes(c model.Config) map[string][2]int {
	h, q, kv, in := c.HiddenSize, c.QDim(), c.KVDim(), c.IntermediateSize
	per := map[string][2]int{
		"self_attn.q_proj": {q, h}, "self_attn.k_proj": {kv, h}, "self_attn.v_proj": {kv, h}, "self_attn.o_proj": {h, q},
		"mlp.gate_proj": {in, h}, "mlp.up_proj": {in, h}, "mlp.down_proj": {h, in},
	}
	out := map[string][2]int{"lm_head": {c.VocabSize, h}}
	for l := 0; l < c.NumLayers; l++ {
		for n, sh := range per {
			out["model.layers."+strconv.Itoa(l)+"."+n] = sh
		}
	}
	return out
}

type placeholderSource struct {
	ck        *safetensors.Checkpoint
	shapes    map[string][2]int
	quantized map[string]Format
	zeros     []byte
}

func (p *placeholderSource) site(name string) (string, bool) {
	base, ok := cutSuffix(name, ".weight")
	if !ok {
		return "", false
	}
	_, q := p.quantized[base]
	return base, q
}

func cutSuffix(s, suf string) (string, bool) {
	if len(s) >= len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)], true
	}
	return s, false
}

func (p *placeholderSource) Has(name string) bool {
	if _, q := p.site(name); q {
		return true
	}
	return p.ck.Has(name)
}

func (p *placeholderSource) Tensor(name string) (safetensors.Tensor, error) {
	base, q := p.site(name)
	if !q {
		return p.ck.Tensor(name)
	}
	sh := p.shapes[base]
	n := 4 * sh[0] * sh[1]
	return safetensors.Tensor{
		TensorInfo: safetensors.TensorInfo{Name: name, DType: safetensors.F32, Shape: []int64{int64(sh[0]), int64(sh[1])}, End: int64(n)},
		Data:       p.zeros[:n],
	}, nil
}

func loadQLinear(ck *safetensors.Checkpoint, name string, f Format, rows, cols int) (*QLinear, error) {
	get := func(suffix string, dt safetensors.DType, shape ...int) (safetensors.Tensor, bool, error) {
		if !ck.Has(name + suffix) {
			return safetensors.Tensor{}, false, nil
		}
		t, err := ck.Tensor(name + suffix)
		if err != nil {
			return t, false, err
		}
		ok := t.DType == dt && len(t.Shape) == len(shape)
		for i := 0; ok && i < len(shape); i++ {
			ok = t.Shape[i] == int64(shape[i])
		}
		if !ok {
			return t, false, fmt.Errorf("quant: %s%s is %s %v, want %s %v", name, suffix, t.DType, t.Shape, dt, shape)
		}
		return t, true, nil
	}
	ng := f.NumGroups(cols)
	q := &QLinear{Format: f, Rows: rows, Cols: cols}
	t, ok, err := get(".qweight", safetensors.U8, rows, f.RowBytes(cols))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("quant: %s.qweight missing", name)
	}
	q.Q = t.Data
	sdt := safetensors.F32
	if f.Scale == ScaleF16 {
		sdt = safetensors.F16
	}
	if t, ok, err = get(".scales", sdt, rows, ng); err != nil || !ok {
		return nil, cmpErr(err, name+".scales")
	}
	if q.Scales, err = model.FiniteFloat32s(t); err != nil {
		return nil, err
	}
	if f.Bits == 8 && f.Scale == ScaleF16 {
		// The 8-bit decode kernel reads the stored half-precision bits
		// (QLinear.scales16).
		q.scales16 = make([]uint16, len(q.Scales))
		for i := range q.scales16 {
			q.scales16[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
		}
	}
	if f.HasZeros() {
		zb := f.RowBytes(ng)
		if t, ok, err = get(".qzeros", safetensors.U8, rows, zb); err != nil || !ok {
			return nil, cmpErr(err, name+".qzeros")
		}
		q.Zeros = make([]uint8, rows*ng)
		for r := 0; r < rows; r++ {
			unpackRow(q.Zeros[r*ng:(r+1)*ng], t.Data[r*zb:(r+1)*zb], f.Bits)
		}
	}
	if t, ok, err = get(".g_idx", safetensors.I32, cols); err != nil {
		return nil, err
	} else if ok {
		q.GIdx = make([]int32, cols)
		for i := range q.GIdx {
			q.GIdx[i] = int32(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
	}
	if t, ok, err = get(".input_scale", safetensors.F32, cols); err != nil {
		return nil, err
	} else if ok {
		if q.InScale, err = model.FiniteFloat32s(t); err != nil {
			return nil, err
		}
	}
	if t, ok, err = get(".bias", safetensors.F32, rows); err != nil {
		return nil, err
	} else if ok {
		if q.Bias, err = model.FiniteFloat32s(t); err != nil {
			return nil, err
		}
	}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return q, nil
}

func cmpErr(err error, what string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("quant: %s missing", what)
}
