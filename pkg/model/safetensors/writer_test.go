package safetensors

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReferenceSerialization pins the writer to the byte vectors of the
// reference implementation's own tests (huggingface/safetensors
// safetensors/src/tensor.rs: test_serialization, test_empty,
// test_serialization_forced_alignement).
func TestReferenceSerialization(t *testing.T) {
	data := f32bytes(0, 1, 2, 3, 4, 5)
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    []byte
	}{
		{"serialization", []Tensor{{TensorInfo{Name: "attn.0", DType: F32, Shape: []int64{1, 2, 3}}, data}}, nil, []byte{
			64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
			116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
			58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
			101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
			0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64}},
		{"empty", nil, nil, []byte{8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}},
		{"empty with metadata", nil, map[string]string{"framework": "pt"}, []byte{
			40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
			95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
			116, 34, 125, 125, 32, 32, 32, 32, 32}},
		{"forced alignment", []Tensor{{TensorInfo{Name: "attn0", DType: F32, Shape: []int64{1, 1, 2, 3}}, data}}, nil, []byte{
			72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
			121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
			91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
			115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
			32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
			160, 64}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
		if err := WriteFile(p, c.tensors, c.meta); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rt.safetensors")
	specs := []TensorSpec{
		{"z.bf16", BF16, []int64{3}},
		{"a.f32", F32, []int64{2, 2}},
		{"empty", F16, []int64{0}},
		{"m.i8", I8, []int64{5}},
		{"scalar", F64, nil},
		{"chunked", U16, []int64{4, 3}},
		{"fp8", F8E4M3, []int64{2}},
	}
	payload := map[string][]byte{
		"z.bf16":  {0x80, 0x3f, 0x40, 0xc0, 0x00, 0x00},
		"a.f32":   f32bytes(1, -2, 3.5, float32(math.Inf(1))),
		"empty":   {},
		"m.i8":    {0xff, 0, 1, 0x80, 0x7f},
		"scalar":  {0, 0, 0, 0, 0, 0, 0x04, 0x40},
		"chunked": []byte("abcdefghijklmnopqrstuvwx"),
		"fp8":     {0x38, 0xb8},
	}
	meta := map[string]string{"format": "pt", "note": "<&> \"quoted\""}
	w, err := Create(p, specs, meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		d := payload[s.Name]
		switch s.Name {
		case "empty":
			continue // zero-byte tensors may be skipped
		case "chunked":
			for _, piece := range [][]byte{d[:5], {}, d[5:17], d[17:]} {
				if err := w.WriteChunk(s.Name, piece); err != nil {
					t.Fatal(err)
				}
			}
		default:
			if err := w.Write(s.Name, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.DataOffset()%8 != 0 {
		t.Errorf("header not padded to 8: data starts at %d", f.DataOffset())
	}
	if !mapsEqual(f.Metadata(), meta) {
		t.Errorf("metadata %v", f.Metadata())
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
		tn, err := f.Tensor(s.Name)
		if err != nil {
			t.Fatal(err)
		}
		wantShape := s.Shape
		if wantShape == nil {
			wantShape = []int64{}
		}
		if tn.DType != s.DType || !slices.Equal(tn.Shape, wantShape) || !bytes.Equal(tn.Data, payload[s.Name]) {
			t.Errorf("%s: got %+v %q", s.Name, tn.TensorInfo, tn.Data)
		}
	}
	slices.Sort(names)
	if !slices.Equal(f.Names(), names) {
		t.Errorf("names %v", f.Names())
	}
	// Data is laid out in declaration order.
	a, _ := f.Info("a.f32")
	z, _ := f.Info("z.bf16")
	if z.Begin != 0 || a.Begin != z.End {
		t.Errorf("layout not in declared order: z %d-%d, a %d-%d", z.Begin, z.End, a.Begin, a.End)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	assertOnly(t, dir, "rt.safetensors")
}

// assertOnly checks that dir holds exactly the named entries (no temp files).
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(names)
	if !slices.Equal(got, names) && !(len(got) == 0 && len(names) == 0) {
		t.Errorf("directory holds %q, want %q", got, names)
	}
}

func TestWriterFailuresLeaveNothing(t *testing.T) {
	specs := []TensorSpec{{"a", F32, []int64{2}}, {"b", U8, []int64{3}}}
	steps := map[string]func(w *Writer) error{
		"out of order": func(w *Writer) error { return w.Write("b", []byte{1, 2, 3}) },
		"wrong size":   func(w *Writer) error { return w.Write("a", []byte{1, 2, 3}) },
		"chunk overrun": func(w *Writer) error {
			w.WriteChunk("a", make([]byte, 6))
			return w.WriteChunk("a", make([]byte, 3))
		},
		"write after chunk": func(w *Writer) error {
			w.WriteChunk("a", make([]byte, 4))
			return w.Write("a", make([]byte, 8))
		},
		"too many": func(w *Writer) error {
			w.Write("a", make([]byte, 8))
			w.Write("b", make([]byte, 3))
			return w.Write("c", nil)
		},
		"incomplete": func(w *Writer) error {
			w.Write("a", make([]byte, 8))
			return w.Close()
		},
		"partial tensor": func(w *Writer) error {
			w.Write("a", make([]byte, 8))
			w.WriteChunk("b", make([]byte, 1))
			return w.Close()
		},
	}
	for name, step := range steps {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "out.safetensors")
			w, err := Create(p, specs, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = step(w)
			if err == nil || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v, want a one-line error naming %s", err, p)
			}
			if cerr := w.Close(); cerr == nil {
				t.Error("Close succeeded after a failed write")
			}
			assertOnly(t, dir)
		})
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "out.safetensors")
	os.WriteFile(p, []byte("previous"), 0o600)
	w, err := Create(p, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write("a", make([]byte, 8))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write("b", make([]byte, 3)); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if err := w.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}
	if got, _ := os.ReadFile(p); string(got) != "previous" {
		t.Errorf("aborted write changed the destination: %q", got)
	}
	assertOnly(t, dir, "out.safetensors")
}

func TestCreateRejectsBadSpecs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.safetensors")
	for name, specs := range map[string][]TensorSpec{
		"duplicate":     {{"a", F32, []int64{1}}, {"a", F32, []int64{1}}},
		"empty name":    {{"", F32, []int64{1}}},
		"reserved name": {{MetadataKey, F32, []int64{1}}},
		"unknown dtype": {{"a", "F4", []int64{2}}},
		"negative dim":  {{"a", F32, []int64{-1}}},
		"overflow":      {{"a", F64, []int64{1 << 31, 1 << 31, 1 << 2}}},
	} {
		if _, err := Create(p, specs, nil); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := Create(dir, []TensorSpec{{"a", U8, []int64{1}}}, nil); err == nil {
		t.Error("Create over a directory accepted")
	}
	if _, err := Create(filepath.Join(dir, "no", "such", "x.safetensors"), nil, nil); err == nil {
		t.Error("Create in a missing directory accepted")
	}
	assertOnly(t, dir)
}

func TestWriterRefusesOpenInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.safetensors")
	tensors := []Tensor{{TensorInfo{Name: "a", DType: F32, Shape: []int64{2}}, f32bytes(1, 2)}}
	if err := WriteFile(in, tensors, nil); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.safetensors")
	if err := os.Link(in, link); err != nil {
		t.Skipf("hard links unsupported: %v", err)
	}
	sym := filepath.Join(dir, "sym.safetensors")
	symOK := os.Symlink(in, sym) == nil

	f, err := Open(in)
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{in, link, filepath.Join(dir, ".", "in.safetensors")}
	if symOK {
		targets = append(targets, sym)
	}
	for _, p := range targets {
		if err := WriteFile(p, tensors, nil); err == nil || !strings.Contains(err.Error(), "open as an input") {
			t.Errorf("%s: error %v, want a refusal", p, err)
		}
	}
	// An input opened after Create is caught at Close.
	out := filepath.Join(dir, "out.safetensors")
	if err := WriteFile(out, tensors, nil); err != nil {
		t.Fatal(err)
	}
	w, err := Create(out, []TensorSpec{{"b", U8, []int64{1}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	w.Write("b", []byte{9})
	if err := w.Close(); err == nil {
		t.Error("Close replaced a file opened as an input after Create")
	}
	if a, err := g.Tensor("a"); err != nil || !bytes.Equal(a.Data, f32bytes(1, 2)) {
		t.Errorf("input damaged: %v", err)
	}
	g.Close()

	f.Close()
	if err := WriteFile(in, []Tensor{{TensorInfo{Name: "c", DType: U8, Shape: []int64{1}}, []byte{3}}}, nil); err != nil {
		t.Fatalf("overwrite after Close refused: %v", err)
	}
	f, err = Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !slices.Equal(f.Names(), []string{"c"}) {
		t.Errorf("names %v", f.Names())
	}
}
