package quant

import (
	"sort"
	"strings"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
)

// TensorRow is one tensor of a checkpoint as stored.
type TensorRow struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
	Bytes int64   `json:"bytes"`
}

// Description is what `ttq inspect --json` prints of a model (schema
// ttq.inspect/v1): its configuration, size, checkpoint files with their
// metadata, every tensor as stored, and the tokenizer.
type Description struct {
	Schema    string            `json:"schema"`
	Model     string            `json:"model"`
	Config    model.Config      `json:"config"`
	Params    int64             `json:"parameters"`
	Bytes     int64             `json:"checkpoint_bytes"`
	Files     []string          `json:"files"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Tensors   []TensorRow       `json:"tensors"`
	Tokenizer tokenizer.Summary `json:"tokenizer"`
}

// Describe lists what lm was loaded from, from the checkpoint it was read
// from (no second open); tensors are ordered by name, layer numbers
// compared as numbers, so layer 10 follows layer 9.
func Describe(lm *LoadedModel) Description {
	ckpt := lm.Checkpoint
	res := Description{
		Schema:    "ttq.inspect/v1",
		Model:     lm.Source,
		Config:    lm.Model.Config,
		Params:    lm.Model.NumParams(),
		Bytes:     ckpt.TotalBytes(),
		Tokenizer: lm.Tokenizer.Summary(),
	}
	for _, f := range ckpt.Files() {
		res.Files = append(res.Files, f.Path())
		for k, v := range f.Metadata() {
			if res.Metadata == nil {
				res.Metadata = map[string]string{}
			}
			res.Metadata[k] = v
		}
	}
	for _, name := range ckpt.Names() {
		info, _ := ckpt.Info(name)
		res.Tensors = append(res.Tensors, TensorRow{Name: name, DType: string(info.DType), Shape: info.Shape, Bytes: info.End - info.Begin})
	}
	sort.Slice(res.Tensors, func(i, j int) bool { return tensorLess(res.Tensors[i].Name, res.Tensors[j].Name) })
	return res
}

// tensorLess orders tensor names with layer numbers numerically.
func tensorLess(a, b string) bool {
	la, ra := layerIndex(a)
	lb, rb := layerIndex(b)
	if la != lb {
		return la < lb
	}
	if ra != rb {
		return ra < rb
	}
	return a < b
}

func layerIndex(name string) (int, string) {
	const p = "model.layers."
	if !strings.HasPrefix(name, p) {
		if strings.HasPrefix(name, "model.embed") {
			return -1, name
		}
		return 1 << 30, name
	}
	rest := name[len(p):]
	n := 0
	i := 0
	for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9'; i++ {
		n = n*10 + int(rest[i]-'0')
	}
	return n, rest[i:]
}
