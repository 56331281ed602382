package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeShard(t *testing.T, path string, tensors ...Tensor) {
	t.Helper()
	if err := WriteFile(path, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func u8(name string, v ...byte) Tensor {
	return Tensor{TensorInfo{Name: name, DType: U8, Shape: []int64{int64(len(v))}}, v}
}

func TestShardedCheckpoint(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, filepath.Join(dir, "model-00001-of-00002.safetensors"), u8("a", 1, 2), u8("b", 3))
	writeShard(t, filepath.Join(dir, "model-00002-of-00002.safetensors"), u8("c", 4, 5, 6), u8("extra", 7))
	index := `{"metadata":{"total_size":6},"weight_map":{
		"a":"model-00001-of-00002.safetensors",
		"b":"model-00001-of-00002.safetensors",
		"c":"model-00002-of-00002.safetensors"}}`
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(index), 0o644)

	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("names %v", got)
	}
	if len(c.Files()) != 2 {
		t.Errorf("%d files opened, want 2 (each shard once)", len(c.Files()))
	}
	if c.TotalBytes() != 6 {
		t.Errorf("TotalBytes %d", c.TotalBytes())
	}
	if !c.Has("c") || c.Has("extra") || c.Has("zz") {
		t.Error("Has wrong")
	}
	tc, err := c.Tensor("c")
	if err != nil || !bytes.Equal(tc.Data, []byte{4, 5, 6}) {
		t.Errorf("c = %v, %v", tc.Data, err)
	}
	if info, ok := c.Info("a"); !ok || info.ByteSize() != 2 {
		t.Errorf("Info(a) = %+v", info)
	}
	if _, err := c.Tensor("zz"); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("absent tensor error %v", err)
	}
	if c.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v", c.Metadata())
	}
	// A shard in use cannot be overwritten.
	if err := WriteFile(filepath.Join(dir, "model-00002-of-00002.safetensors"), nil, nil); err == nil {
		t.Error("overwrote an open shard")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if IsOpen(filepath.Join(dir, "model-00001-of-00002.safetensors")) {
		t.Error("Close left shards open")
	}

	// The index names a tensor its shard lacks.
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"a":"model-00002-of-00002.safetensors"}}`), 0o644)
	if _, err := OpenCheckpoint(dir); err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("missing tensor error %v", err)
	}
	// Shard paths may not leave the directory.
	for _, bad := range []string{"../x.safetensors", "/etc/passwd", "sub/x.safetensors", ""} {
		os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"a":"`+bad+`"}}`), 0o644)
		if _, err := OpenCheckpoint(dir); err == nil {
			t.Errorf("shard %q accepted", bad)
		}
	}
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{"a":"gone.safetensors"}}`), 0o644)
	if _, err := OpenCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "gone.safetensors") {
		t.Errorf("missing shard error %v", err)
	}
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":{}}`), 0o644)
	if _, err := OpenCheckpoint(dir); err == nil {
		t.Error("empty weight_map accepted")
	}
	os.WriteFile(filepath.Join(dir, IndexFileName), []byte(`{"weight_map":`), 0o644)
	if _, err := OpenCheckpoint(dir); err == nil || !strings.Contains(err.Error(), IndexFileName) {
		t.Errorf("broken index error %v", err)
	}
	for _, f := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if IsOpen(filepath.Join(dir, f)) {
			t.Errorf("failed OpenCheckpoint left %s open", f)
		}
	}
	// Without the index two files are ambiguous.
	os.Remove(filepath.Join(dir, IndexFileName))
	if _, err := OpenCheckpoint(dir); err == nil || !strings.Contains(err.Error(), "2 *.safetensors") {
		t.Errorf("ambiguous directory error %v", err)
	}
}

func TestSingleCheckpoint(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenCheckpoint(dir); err == nil {
		t.Error("empty directory accepted")
	}
	writeShard(t, filepath.Join(dir, "weights.safetensors"), u8("x", 1))
	c, err := OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Names(), []string{"x"}) {
		t.Errorf("names %v", c.Names())
	}
	c.Close()
	// model.safetensors wins over other files.
	writeShard(t, filepath.Join(dir, SingleFileName), u8("y", 2))
	c, err = OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Names(), []string{"y"}) {
		t.Errorf("names %v", c.Names())
	}
	c.Close()
	// A file path works too.
	c, err = OpenCheckpoint(filepath.Join(dir, "weights.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Has("x") {
		t.Error("file checkpoint lacks x")
	}
	c.Close()
}

func TestCheckpointFromFiles(t *testing.T) {
	a, _ := FromBytes("a", build(`{"p":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}))
	b, _ := FromBytes("b", build(`{"q":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{2, 3}))
	c, err := CheckpointFromFiles(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Names(), []string{"p", "q"}) || c.TotalBytes() != 3 {
		t.Errorf("names %v, total %d", c.Names(), c.TotalBytes())
	}
	if _, err := CheckpointFromFiles(a, a); err == nil || !strings.Contains(err.Error(), `"p"`) {
		t.Errorf("duplicate error %v", err)
	}
	if _, err := CheckpointFromFiles(); err == nil {
		t.Error("empty checkpoint accepted")
	}
}
