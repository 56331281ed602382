package llama2c

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

func FuzzReadHeader(f *testing.F) {
	f.Add(newV0(tiny, 1).bytes()[:HeaderSize])
	f.Add([]byte{64, 0, 0, 0, 172, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0, 4, 0, 0, 0, 0, 254, 255, 255, 0, 2, 0, 0})
	f.Add(make([]byte, HeaderSize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ReadHeader(bytes.NewReader(data))
		if err != nil {
			return
		}
		if h.Validate() != nil || h.FileSize() <= HeaderSize || h.Dim%h.NHeads != 0 || h.NHeads%h.NKVHeads != 0 {
			t.Fatalf("accepted inconsistent header %+v", h)
		}
	})
}

// FuzzConvert runs Convert on arbitrary file contents: no panic, and a
// successful conversion must open and agree with the header.
func FuzzConvert(f *testing.F) {
	small := Header{Dim: 4, HiddenDim: 3, NLayers: 1, NHeads: 2, NKVHeads: 1, VocabSize: 3, SeqLen: 2}
	f.Add(newV0(small, 1).bytes())
	small.SharedClassifier = true
	good := newV0(small, 2).bytes()
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(good[:HeaderSize+3])
	f.Add(append(good, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		bin := filepath.Join(dir, "in.bin")
		if err := os.WriteFile(bin, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out")
		h, err := Convert(bin, out)
		if err != nil {
			return
		}
		c, err := safetensors.OpenCheckpoint(out)
		if err != nil {
			t.Fatalf("converted output does not open: %v", err)
		}
		defer c.Close()
		if want := h.FileSize() - HeaderSize - 4*int64(h.SeqLen*h.HeadSize()); c.TotalBytes() != want {
			t.Fatalf("output holds %d bytes, want %d", c.TotalBytes(), want)
		}
	})
}
