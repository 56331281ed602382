package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SingleFileName and IndexFileName are the names transformers' save_pretrained
// uses for unsharded and sharded checkpoints.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
)

// Checkpoint is a set of safetensors files seen as one name space: a single
// model.safetensors or the shards listed by model.safetensors.index.json.
type Checkpoint struct {
	files []*File
	where map[string]*File
	names []string
}

// OpenCheckpoint opens the checkpoint in dir: the shards named by
// model.safetensors.index.json when present, else model.safetensors, else the
// directory's only *.safetensors file. dir may also be a .safetensors file.
// Each shard is opened once, and every tensor of the index must exist in the
// shard the index names.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.IsDir() {
		f, err := Open(dir)
		if err != nil {
			return nil, err
		}
		return CheckpointFromFiles(f)
	}
	index := filepath.Join(dir, IndexFileName)
	if _, err := os.Stat(index); err == nil {
		return openIndexed(dir, index)
	}
	single := filepath.Join(dir, SingleFileName)
	if _, err := os.Stat(single); err == nil {
		f, err := Open(single)
		if err != nil {
			return nil, err
		}
		return CheckpointFromFiles(f)
	}
	matches, err := filepath.Glob(filepath.Join(globEscape(dir), "*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", dir, err)
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("safetensors: %s: no %s, %s or other *.safetensors file", dir, IndexFileName, SingleFileName)
	case 1:
		f, err := Open(matches[0])
		if err != nil {
			return nil, err
		}
		return CheckpointFromFiles(f)
	}
	return nil, fmt.Errorf("safetensors: %s: %d *.safetensors files but no %s to say how they combine", dir, len(matches), IndexFileName)
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}

func openIndexed(dir, index string) (*Checkpoint, error) {
	raw, err := os.ReadFile(index)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("safetensors: %s: %v", index, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("safetensors: %s: weight_map is missing or empty", index)
	}
	c := &Checkpoint{where: make(map[string]*File, len(idx.WeightMap))}
	shards := make(map[string]*File)
	names := make([]string, 0, len(idx.WeightMap))
	for name := range idx.WeightMap {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		shard := idx.WeightMap[name]
		// Shards must sit beside the index: a path could escape the directory.
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
			c.Close()
			return nil, fmt.Errorf("safetensors: %s: tensor %q maps to %q, which is not a file name in the same directory", index, name, shard)
		}
		f, ok := shards[shard]
		if !ok {
			f, err = Open(filepath.Join(dir, shard))
			if err != nil {
				c.Close()
				return nil, err
			}
			shards[shard] = f
			c.files = append(c.files, f)
		}
		if _, ok := f.Info(name); !ok {
			c.Close()
			return nil, fmt.Errorf("safetensors: %s: tensor %q is mapped to shard %s, which does not contain it", index, name, shard)
		}
		c.where[name] = f
	}
	c.names = names
	return c, nil
}

// CheckpointFromFiles combines already-opened files (for example in-memory
// ones from FromBytes); a tensor name present in two files is an error. The
// Checkpoint takes ownership on success (its Close closes them); on error
// the files stay the caller's to close.
func CheckpointFromFiles(files ...*File) (*Checkpoint, error) {
	if len(files) == 0 {
		return nil, errors.New("safetensors: checkpoint needs at least one file")
	}
	c := &Checkpoint{where: make(map[string]*File), files: slices.Clone(files)}
	for _, f := range files {
		for _, name := range f.names {
			if prev, dup := c.where[name]; dup {
				return nil, fmt.Errorf("safetensors: tensor %q is in both %s and %s", name, prev.path, f.path)
			}
			c.where[name] = f
			c.names = append(c.names, name)
		}
	}
	slices.Sort(c.names)
	return c, nil
}

// Names returns every tensor name, sorted.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Has reports whether the checkpoint holds the tensor.
func (c *Checkpoint) Has(name string) bool {
	_, ok := c.where[name]
	return ok
}

// Info describes a tensor without touching its data.
func (c *Checkpoint) Info(name string) (TensorInfo, bool) {
	f, ok := c.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Info(name)
}

// Tensor returns a tensor from whichever file holds it.
func (c *Checkpoint) Tensor(name string) (Tensor, error) {
	f, ok := c.where[name]
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: checkpoint has no tensor %q", name)
	}
	return f.Tensor(name)
}

// ReleasePages is File.ReleasePages on the shard that holds b.
func (c *Checkpoint) ReleasePages(b []byte) {
	for _, f := range c.files {
		f.ReleasePages(b)
	}
}

// Files returns the underlying files (shards in first-use order).
func (c *Checkpoint) Files() []*File { return slices.Clone(c.files) }

// TotalBytes is the sum of the tensors' data sizes.
func (c *Checkpoint) TotalBytes() int64 {
	var n int64
	for name, f := range c.where {
		t, _ := f.Info(name)
		n += t.ByteSize()
	}
	return n
}

// Metadata returns the __metadata__ of the first file (shards written by
// save_pretrained all carry the same).
func (c *Checkpoint) Metadata() map[string]string {
	if len(c.files) == 0 {
		return nil
	}
	return c.files[0].Metadata()
}

// Close closes every file, returning the first error.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
