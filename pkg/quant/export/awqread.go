package export

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// ReadAWQ opens an AutoAWQ GEMM checkpoint directory (4-bit, g128, as
// WriteAWQ and AutoAWQ write it) as a model whose linear layers are
// float32 Dense layers holding the dequantized weights Ŵ = (q − z)·s. It
// is ttq's independent reader of the format: it shares no code with
// quant.QLinear, so a model read back through it checks the packing.
func ReadAWQ(dir string) (*model.Model, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var cfgMap map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfgMap); err != nil {
		return nil, fmt.Errorf("export: %s/config.json: %w", dir, err)
	}
	var qc struct {
		QuantMethod string `json:"quant_method"`
		Bits        int    `json:"bits"`
		GroupSize   int    `json:"group_size"`
		ZeroPoint   bool   `json:"zero_point"`
		Version     string `json:"version"`
	}
	if err := json.Unmarshal(cfgMap["quantization_config"], &qc); err != nil {
		return nil, fmt.Errorf("export: %s/config.json: quantization_config: %w", dir, err)
	}
	if qc.QuantMethod != "awq" || qc.Bits != AWQBits || qc.GroupSize != AWQGroup || !qc.ZeroPoint || strings.ToLower(qc.Version) != "gemm" {
		return nil, fmt.Errorf("export: %s: quantization_config %+v is not AutoAWQ GEMM 4-bit g128 with zero points", dir, qc)
	}
	delete(cfgMap, "quantization_config")
	stripped, _ := json.Marshal(cfgMap)
	cfg, err := model.ParseConfig(stripped)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	m, err := model.New(cfg, &awqSource{ck: ck, cache: map[string][]byte{}}, ck)
	if err != nil {
		ck.Close()
		return nil, err
	}
	return m, nil
}

// awqSource presents an AWQ checkpoint's packed linears as float32
// NAME.weight tensors.
type awqSource struct {
	ck    *safetensors.Checkpoint
	mu    sync.Mutex
	cache map[string][]byte // the model keeps pointing into these
}

func (s *awqSource) packed(name string) (string, bool) {
	base, ok := strings.CutSuffix(name, ".weight")
	return base, ok && s.ck.Has(base+".qweight")
}

func (s *awqSource) Has(name string) bool {
	if _, ok := s.packed(name); ok {
		return true
	}
	return s.ck.Has(name)
}

func (s *awqSource) Tensor(name string) (safetensors.Tensor, error) {
	base, ok := s.packed(name)
	if !ok {
		return s.ck.Tensor(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	get := func(suffix string, dt safetensors.DType) (safetensors.Tensor, error) {
		t, err := s.ck.Tensor(base + suffix)
		if err == nil && (t.DType != dt || len(t.Shape) != 2) {
			err = fmt.Errorf("export: %s%s is %s %v, want a 2-D %s tensor", base, suffix, t.DType, t.Shape, dt)
		}
		return t, err
	}
	qw, err := get(".qweight", safetensors.I32)
	if err != nil {
		return safetensors.Tensor{}, err
	}
	qz, err := get(".qzeros", safetensors.I32)
	if err != nil {
		return safetensors.Tensor{}, err
	}
	sc, err := get(".scales", safetensors.F16)
	if err != nil {
		return safetensors.Tensor{}, err
	}
	in, out := int(qw.Shape[0]), int(qw.Shape[1])*awqPack
	if qz.Shape[1] != qw.Shape[1] || sc.Shape[1] != int64(out) || int(qz.Shape[0])*AWQGroup != in || sc.Shape[0] != qz.Shape[0] {
		return safetensors.Tensor{}, fmt.Errorf("export: %s: qweight %v, qzeros %v and scales %v do not describe one g%d layer", base, qw.Shape, qz.Shape, sc.Shape, AWQGroup)
	}
	codes, zeros, scales, err := UnpackAWQ(qw.Data, qz.Data, sc.Data, in, out)
	if err != nil {
		return safetensors.Tensor{}, fmt.Errorf("%s: %w", base, err)
	}
	ng := in / AWQGroup
	data := make([]byte, 4*out*in)
	for r := 0; r < out; r++ {
		for i := 0; i < in; i++ {
			g := r*ng + i/AWQGroup
			w := float32(int(codes[r*in+i])-int(zeros[g])) * scales[g]
			binary.LittleEndian.PutUint32(data[4*(r*in+i):], math.Float32bits(w))
		}
	}
	s.cache[name] = data
	return safetensors.Tensor{
		TensorInfo: safetensors.TensorInfo{Name: name, DType: safetensors.F32, Shape: []int64{int64(out), int64(in)}, End: int64(len(data))},
		Data:       data,
	}, nil
}
