package export

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
	"github.com/ttqproject/ttq/pkg/quant"
)

// AutoAWQ GEMM geometry (casper-hansen/AutoAWQ awq/modules/linear/gemm.py):
// 4-bit codes, 8 per int32, groups of 128 inputs.
const (
	AWQBits  = 4
	AWQGroup = 128
	awqPack  = 32 / AWQBits
)

// awqOrder is AutoAWQ's packing order: nibble slot p of an int32 holds
// output column 8·k + awqOrder[p]; awqSlot is its inverse.
var (
	awqOrder = [awqPack]int{0, 2, 4, 6, 1, 3, 5, 7}
	awqSlot  = [awqPack]int{0, 4, 1, 5, 2, 6, 3, 7}
)

// AWQOptions configure WriteAWQ.
type AWQOptions struct {
	// ConfigJSON is the source model's config.json; quantization_config and
	// torch_dtype are added to it, every other field is kept.
	ConfigJSON []byte
	// Files are written verbatim beside the weights (tokenizer files).
	Files map[string][]byte
	// Force replaces an existing output directory.
	Force bool
	// Progress is told after each tensor; nil is allowed.
	Progress func(done, total int)
}

// AWQReport describes a written AutoAWQ checkpoint.
type AWQReport struct {
	Format    string   `json:"format"` // the ttq format of the exported layers
	Quantized int      `json:"quantized_linears"`
	Tensors   int      `json:"tensors"`
	Bytes     int64    `json:"bytes"`
	Files     []string `json:"files"`
}

// awqConfig is the quantization_config AutoAWQ writes (FORMATS §5.1).
func awqConfig() map[string]any {
	return map[string]any{
		"quant_method": "awq", "bits": AWQBits, "group_size": AWQGroup, "zero_point": true,
		"version": "gemm", "modules_to_not_convert": nil,
	}
}

// CheckAWQ reports why a layer cannot be stored in AutoAWQ's GEMM layout,
// naming it; nil means it can, exactly: the layout holds w = (q − z)·s
// with 4-bit codes and zeros and f16 scales per 128 inputs, which every
// 4-bit grid of ttq fits (the symmetric grid's fixed zero is 8).
func CheckAWQ(name string, l model.Linear) error {
	q, ok := l.(*quant.QLinear)
	if !ok {
		return fmt.Errorf("export: %s is not quantized (%T): AWQ export needs every decoder linear quantized by rtn, awq or gptq", name, l)
	}
	f := q.Format
	switch {
	case f.Bits != AWQBits:
		return fmt.Errorf("export: %s is %d-bit; AutoAWQ GEMM stores 4-bit weights only", name, f.Bits)
	case f.Group != AWQGroup:
		return fmt.Errorf("export: %s has group size %d; the AWQ export writes g128 (quantize with --group 128)", name, f.Group)
	case q.Cols%AWQGroup != 0:
		return fmt.Errorf("export: %s has %d inputs, not a multiple of the group size %d", name, q.Cols, AWQGroup)
	case q.Rows%awqPack != 0:
		return fmt.Errorf("export: %s has %d outputs, not a multiple of %d (8 codes per int32)", name, q.Rows, awqPack)
	case f.Scale != quant.ScaleF16:
		return fmt.Errorf("export: %s has %s scales; AutoAWQ stores f16 scales, which would change the weights (quantize with --scale-type f16)", name, f.Scale)
	case q.GIdx != nil:
		return fmt.Errorf("export: %s uses GPTQ act-order groups (g_idx), which AutoAWQ GEMM cannot store", name)
	case q.InScale != nil:
		return fmt.Errorf("export: %s has a per-input scale, which AutoAWQ GEMM cannot store", name)
	case !f.HasZeros() && f.Grid != quant.GridSym:
		return fmt.Errorf("export: %s has no zero points on grid %s", name, f.Grid)
	}
	return nil
}

// zeroOf returns the zero point of row r, group g.
func zeroOf(q *quant.QLinear, r, g int) int32 {
	if q.Zeros == nil { // symmetric grid: zero fixed at (maxq+1)/2
		return int32((q.Format.MaxQ() + 1) / 2)
	}
	return int32(q.Zeros[r*q.Format.NumGroups(q.Cols)+g])
}

// PackAWQ packs a quantized layer into AutoAWQ's GEMM tensors: qweight
// [in, out/8], qzeros [in/128, out/8] (int32, little-endian) and scales
// [in/128, out] (f16).
func PackAWQ(q *quant.QLinear) (qweight, qzeros, scales []byte) {
	in, out := q.Cols, q.Rows
	ng := in / AWQGroup
	wq := make([]uint32, in*out/awqPack)
	wz := make([]uint32, ng*out/awqPack)
	sc := make([]float32, ng*out)
	codes := make([]uint8, in)
	for r := 0; r < out; r++ {
		q.Codes(codes, r)
		col, shift := r/awqPack, 4*awqSlot[r%awqPack]
		for i, c := range codes {
			wq[i*out/awqPack+col] |= uint32(c) << shift
		}
		for g := 0; g < ng; g++ {
			wz[g*out/awqPack+col] |= uint32(zeroOf(q, r, g)) << shift
			sc[g*out+r] = q.Scales[r*ng+g]
		}
	}
	qweight = u32Bytes(wq)
	qzeros = u32Bytes(wz)
	scales = make([]byte, 2*len(sc))
	kernels.FromFloat32(scales, sc, kernels.ElemF16)
	return qweight, qzeros, scales
}

// UnpackAWQ is PackAWQ's inverse: the codes [out][in], zeros [out][in/128]
// and scales [out][in/128] of a layer with in inputs and out outputs.
func UnpackAWQ(qweight, qzeros, scales []byte, in, out int) (codes, zeros []uint8, sc []float32, err error) {
	ng := in / AWQGroup
	if in%AWQGroup != 0 || out%awqPack != 0 || in <= 0 || out <= 0 {
		return nil, nil, nil, fmt.Errorf("export: AWQ layer [%d in, %d out] is not a multiple of [%d, %d]", in, out, AWQGroup, awqPack)
	}
	if len(qweight) != 4*in*out/awqPack || len(qzeros) != 4*ng*out/awqPack || len(scales) != 2*ng*out {
		return nil, nil, nil, fmt.Errorf("export: AWQ tensors of %d, %d, %d bytes do not fit a [%d in, %d out] layer", len(qweight), len(qzeros), len(scales), in, out)
	}
	codes = make([]uint8, out*in)
	zeros = make([]uint8, out*ng)
	for i := 0; i < in; i++ {
		for k := 0; k < out/awqPack; k++ {
			w := binary.LittleEndian.Uint32(qweight[4*(i*out/awqPack+k):])
			for p := 0; p < awqPack; p++ {
				codes[(awqPack*k+awqOrder[p])*in+i] = uint8(w >> (4 * p) & 0xf)
			}
		}
	}
	for g := 0; g < ng; g++ {
		for k := 0; k < out/awqPack; k++ {
			w := binary.LittleEndian.Uint32(qzeros[4*(g*out/awqPack+k):])
			for p := 0; p < awqPack; p++ {
				zeros[(awqPack*k+awqOrder[p])*ng+g] = uint8(w >> (4 * p) & 0xf)
			}
		}
	}
	flat := make([]float32, ng*out)
	kernels.ToFloat32(flat, scales, kernels.ElemF16)
	sc = make([]float32, out*ng)
	for g := 0; g < ng; g++ {
		for r := 0; r < out; r++ {
			sc[r*ng+g] = flat[g*out+r]
		}
	}
	return codes, zeros, sc, nil
}

func u32Bytes(v []uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func f16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	kernels.FromFloat32(b, v, kernels.ElemF16)
	return b
}

func weightsF16(w kernels.Weights) []byte {
	if w.Elem == kernels.ElemF16 {
		return w.Data
	}
	b := make([]byte, 2*w.Rows*w.Cols)
	row := make([]float32, w.Cols)
	for r := 0; r < w.Rows; r++ {
		w.Row(row, r)
		kernels.FromFloat32(b[2*r*w.Cols:], row, kernels.ElemF16)
	}
	return b
}

// WriteAWQ writes m, whose decoder linears are ttq 4-bit g128 layers with
// f16 scales, as an AutoAWQ GEMM checkpoint in dir: model.safetensors,
// config.json with quantization_config, and o.Files. Embeddings, norms,
// biases and the LM head are written as F16, as AutoAWQ saves them. The
// directory is assembled beside dir and renamed into place; an existing
// dir is an error unless o.Force.
func WriteAWQ(dir string, m *model.Model, o AWQOptions) (*AWQReport, error) {
	rep := &AWQReport{}
	for _, s := range m.Sites() {
		if s.Layer < 0 {
			if _, ok := m.LMHead.(*model.Dense); !ok {
				return nil, fmt.Errorf("export: lm_head is %T; AutoAWQ keeps the LM head in f16 (quantize without the LM head)", m.LMHead)
			}
			continue
		}
		l, err := m.Linear(s)
		if err != nil {
			return nil, err
		}
		if err := CheckAWQ(s.String(), l); err != nil {
			return nil, err
		}
		f := l.(*quant.QLinear).Format.String()
		if rep.Format != "" && rep.Format != f {
			rep.Format = "mixed"
		} else if rep.Format == "" {
			rep.Format = f
		}
		rep.Quantized++
	}
	cfg, err := awqConfigJSON(o.ConfigJSON)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err == nil && !o.Force {
		return nil, fmt.Errorf("export: %s already exists (use --force to replace it)", dir)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(dir)), "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()

	type tensor struct {
		spec safetensors.TensorSpec
		data func() []byte
	}
	var ts []tensor
	add := func(name string, dt safetensors.DType, shape []int64, data func() []byte) {
		ts = append(ts, tensor{safetensors.TensorSpec{Name: name, DType: dt, Shape: shape}, data})
	}
	vecF16 := func(name string, v []float32) {
		add(name, safetensors.F16, []int64{int64(len(v))}, func() []byte { return f16Bytes(v) })
	}
	add("model.embed_tokens.weight", safetensors.F16, []int64{int64(m.Embed.Rows), int64(m.Embed.Cols)}, func() []byte { return weightsF16(m.Embed) })
	for l := range m.Layers {
		ly := &m.Layers[l]
		p := fmt.Sprintf("model.layers.%d.", l)
		vecF16(p+"input_layernorm.weight", ly.AttnNorm)
		vecF16(p+"post_attention_layernorm.weight", ly.MLPNorm)
		if ly.Attn.QNorm != nil {
			vecF16(p+"self_attn.q_norm.weight", ly.Attn.QNorm)
			vecF16(p+"self_attn.k_norm.weight", ly.Attn.KNorm)
		}
		for _, n := range model.LayerLinearNames {
			lin, _ := m.Linear(model.Site{Layer: l, Name: n})
			q := lin.(*quant.QLinear)
			name := p + n
			ng := q.Cols / AWQGroup
			var packed [3][]byte
			pack := func(i int) func() []byte {
				return func() []byte {
					if packed[0] == nil {
						packed[0], packed[1], packed[2] = PackAWQ(q)
					}
					b := packed[i]
					if i == 2 {
						packed = [3][]byte{} // release once the last part is written
					}
					return b
				}
			}
			add(name+".qweight", safetensors.I32, []int64{int64(q.Cols), int64(q.Rows / awqPack)}, pack(0))
			add(name+".qzeros", safetensors.I32, []int64{int64(ng), int64(q.Rows / awqPack)}, pack(1))
			add(name+".scales", safetensors.F16, []int64{int64(ng), int64(q.Rows)}, pack(2))
			if q.Bias != nil {
				vecF16(name+".bias", q.Bias)
			}
		}
	}
	vecF16("model.norm.weight", m.Norm)
	head := m.LMHead.(*model.Dense)
	tied := m.Config.TieWordEmbeddings || (len(head.W.Data) > 0 && len(m.Embed.Data) > 0 && &head.W.Data[0] == &m.Embed.Data[0])
	if !tied {
		add("lm_head.weight", safetensors.F16, []int64{int64(head.W.Rows), int64(head.W.Cols)}, func() []byte { return weightsF16(head.W) })
		if head.Bias != nil {
			vecF16("lm_head.bias", head.Bias)
		}
	}

	specs := make([]safetensors.TensorSpec, len(ts))
	for i, t := range ts {
		specs[i] = t.spec
	}
	w, err := safetensors.Create(filepath.Join(tmp, safetensors.SingleFileName), specs, map[string]string{"format": "pt"})
	if err != nil {
		return nil, err
	}
	for i, t := range ts {
		if err := w.Write(t.spec.Name, t.data()); err != nil {
			w.Abort()
			return nil, err
		}
		if o.Progress != nil {
			o.Progress(i+1, len(ts))
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	rep.Tensors = len(ts)
	files := map[string][]byte{"config.json": cfg}
	for k, v := range o.Files {
		if k != "config.json" && k != safetensors.SingleFileName {
			files[k] = v
		}
	}
	for name, b := range files {
		if filepath.Base(name) != name {
			return nil, fmt.Errorf("export: file name %q is not a plain name", name)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			return nil, err
		}
		rep.Bytes += info.Size()
		rep.Files = append(rep.Files, e.Name())
	}
	if err := replaceDir(tmp, dir); err != nil {
		return nil, err
	}
	committed = true
	return rep, nil
}

// replaceDir renames tmp to dir; an existing dir is moved aside first and
// removed only after the new one is in place.
func replaceDir(tmp, dir string) error {
	if err := os.Rename(tmp, dir); err == nil {
		return nil
	}
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir)
		return err
	}
	return os.RemoveAll(old)
}

// awqConfigJSON adds AutoAWQ's quantization_config to a config.json and
// marks it float16, keeping every other field.
func awqConfigJSON(src []byte) ([]byte, error) {
	var cfg map[string]any
	if err := json.Unmarshal(src, &cfg); err != nil {
		return nil, fmt.Errorf("export: config.json: %w", err)
	}
	if cfg == nil {
		return nil, fmt.Errorf("export: config.json is not an object")
	}
	if _, ok := cfg["quantization_config"]; ok {
		return nil, fmt.Errorf("export: config.json already has a quantization_config")
	}
	cfg["quantization_config"] = awqConfig()
	cfg["torch_dtype"] = "float16"
	if _, ok := cfg["dtype"]; ok {
		cfg["dtype"] = "float16"
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
