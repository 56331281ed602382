package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// sample is a small file using every value type, a nested and an empty
// array, a non-default alignment and tensors of plain and block types.
func sample() *File {
	return &File{
		Version:   3,
		Alignment: 64,
		Metadata: []KV{
			{"general.architecture", String, "llama"},
			{AlignmentKey, Uint32, uint32(64)},
			{"u8", Uint8, uint8(200)},
			{"i8", Int8, int8(-5)},
			{"u16", Uint16, uint16(65000)},
			{"i16", Int16, int16(-30000)},
			{"i32", Int32, int32(-7)},
			{"f32", Float32, float32(1e-5)},
			{"bool", Bool, true},
			{"u64", Uint64, uint64(1) << 40},
			{"i64", Int64, int64(-1) << 40},
			{"f64", Float64, 2.5},
			{"empty string", String, ""},
			{"tokens", Array, ArrayValue{String, []string{"<unk>", "<s>", "</s>", "a", "b"}}},
			{"types", Array, ArrayValue{Int32, []int32{2, 3, 3, 1, 1}}},
			{"none", Array, ArrayValue{Float32, []float32{}}},
			{"nested", Array, ArrayValue{Array, []ArrayValue{{Uint8, []uint8{1, 2}}, {Bool, []bool{false}}}}},
		},
		Tensors: []TensorInfo{
			{Name: "norm.weight", Dims: []uint64{8}, Type: 0, Offset: 0, Size: 32},
			{Name: "w", Dims: []uint64{64, 2}, Type: 2, Offset: 64, Size: 2 * 2 * 18},
			{Name: "scalar", Dims: []uint64{}, Type: 1, Offset: 192, Size: 2},
		},
	}
}

func TestReadSample(t *testing.T) {
	want := sample()
	b := encodeFile(want, 256)
	got, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	want.Size = int64(len(b))
	want.DataOffset = int64(alignUp(uint64(len(encodeHeader(want))), 64))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read\n%+v\nwant\n%+v", got, want)
	}
	// The data section is where the header says.
	w := got.Tensors[1]
	data := make([]byte, w.Size)
	if _, err := got.Section(bytes.NewReader(b), w).ReadAt(data, 0); err != nil || data[0] != 64 {
		t.Fatalf("tensor w data %v, %v", data[:4], err)
	}
	if kv, ok := got.Lookup("tokens"); !ok || kv.Value.(ArrayValue).Len() != 5 || kv.Value.(ArrayValue).Index(2) != "</s>" {
		t.Errorf("Lookup(tokens) = %+v, %v", kv, ok)
	}
}

// TestSpecLayout pins the byte layout of gguf.md on a hand-written file,
// not on this package's own encoder.
func TestSpecLayout(t *testing.T) {
	var b []byte
	le := binary.LittleEndian
	b = append(b, 'G', 'G', 'U', 'F')
	b = le.AppendUint32(b, 3) // version
	b = le.AppendUint64(b, 1) // tensors
	b = le.AppendUint64(b, 1) // metadata
	b = le.AppendUint64(b, 4)
	b = append(b, "name"...)
	b = le.AppendUint32(b, 8) // GGUF_TYPE_STRING
	b = le.AppendUint64(b, 2)
	b = append(b, "hi"...)
	b = le.AppendUint64(b, 1)
	b = append(b, 't')
	b = le.AppendUint32(b, 2) // n_dims
	b = le.AppendUint64(b, 3)
	b = le.AppendUint64(b, 2)
	b = le.AppendUint32(b, 0) // GGML_TYPE_F32
	b = le.AppendUint64(b, 0) // offset
	header := len(b)
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	b = append(b, make([]byte, 24)...)
	f, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 32 || f.DataOffset != int64(alignUp(uint64(header), 32)) || len(f.Metadata) != 1 || f.Metadata[0].Value != "hi" {
		t.Fatalf("%+v", f)
	}
	if ti := f.Tensors[0]; ti.Name != "t" || ti.Type.String() != "F32" || ti.Elements() != 6 || ti.Size != 24 {
		t.Fatalf("tensor %+v", ti)
	}
	// One byte less of data is a truncated file.
	if _, err := Read(bytes.NewReader(b), int64(len(b)-1)); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short data: %v", err)
	}
}

func TestTypeSizes(t *testing.T) {
	// Bits per weight of well-known types, from llama.cpp's quantize table.
	for name, bpw := range map[string]float64{"F32": 32, "F16": 16, "BF16": 16, "Q4_0": 4.5, "Q8_0": 8.5, "Q4_K": 4.5, "Q6_K": 6.5625, "Q2_K": 2.625, "IQ4_XS": 4.25, "TQ2_0": 2.0625} {
		found := false
		for typ, tr := range tensorTypes {
			if tr.name == name {
				found = true
				if got := float64(typ.TypeSize()*8) / float64(typ.BlockSize()); got != bpw {
					t.Errorf("%s: %g bits per weight, want %g", name, got, bpw)
				}
			}
		}
		if !found {
			t.Errorf("%s missing", name)
		}
	}
	if s := TensorType(99).String(); s != "ggml_type(99)" {
		t.Errorf("unknown type %q", s)
	}
}

// TestUnknownTensorType keeps a newer ggml type readable: size unknown,
// extent not checked.
func TestUnknownTensorType(t *testing.T) {
	f := sample()
	f.Tensors = []TensorInfo{{Name: "x", Dims: []uint64{32}, Type: 77, Offset: 0}}
	b := encodeFile(f, 0)
	got, err := Read(bytes.NewReader(b), int64(len(b)))
	if err != nil || got.Tensors[0].Size != 0 || got.Tensors[0].Type.String() != "ggml_type(77)" {
		t.Fatalf("%+v, %v", got, err)
	}
}

func TestMalformed(t *testing.T) {
	valid := encodeFile(sample(), 256)
	le := binary.LittleEndian
	edit := func(f func(*File)) []byte {
		s := sample()
		f(s)
		return encodeFile(s, 256)
	}
	// Offsets in the fixed prefix.
	const verOff, nTensorOff, nKVOff = 4, 8, 16
	patch := func(off int, v uint64, n int) []byte {
		b := bytes.Clone(valid)
		if n == 4 {
			le.PutUint32(b[off:], uint32(v))
		} else {
			le.PutUint64(b[off:], v)
		}
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"magic", append([]byte("GGML"), valid[4:]...), "not a GGUF file"},
		{"v1", patch(verOff, 1, 4), "version 1"},
		{"v4", patch(verOff, 4, 4), "unsupported version 4"},
		{"big-endian", patch(verOff, 0x03000000, 4), "big-endian"},
		{"kv count", patch(nKVOff, math.MaxUint64, 8), "metadata keys cannot fit"},
		{"tensor count", patch(nTensorOff, 1<<40, 8), "tensors cannot fit"},
		{"fewer kvs", patch(nKVOff, 3, 8), "tensor"},
		{"alignment 0", edit(func(f *File) { f.Metadata[1].Value = uint32(0) }), "not a power of two"},
		{"alignment 48", edit(func(f *File) { f.Metadata[1].Value = uint32(48) }), "not a power of two"},
		{"alignment type", edit(func(f *File) { f.Metadata[1] = KV{AlignmentKey, Uint64, uint64(32)} }), "want u32"},
		{"duplicate key", edit(func(f *File) { f.Metadata[3].Key = "u8" }), `duplicate metadata key "u8"`},
		{"duplicate tensor", edit(func(f *File) { f.Tensors[1].Name = "norm.weight" }), `duplicate tensor "norm.weight"`},
		{"value type", edit(func(f *File) { f.Metadata[2].Type = 13 }), "unknown value type 13"},
		{"element type", edit(func(f *File) { f.Metadata[15].Value = ArrayValue{ValueType(20), []uint8{}} }), "unknown array element type 20"},
		{"bool", edit(func(f *File) { f.Metadata[8] = KV{"bool", Bool, uint8(2)} }), "bool value 2"},
		{"dims", edit(func(f *File) { f.Tensors[0].Dims = []uint64{1, 1, 1, 1, 8} }), "5 dimensions"},
		{"dims overflow", edit(func(f *File) { f.Tensors[0].Dims = []uint64{1 << 40, 1 << 40} }), "overflow"},
		{"huge tensor", edit(func(f *File) { f.Tensors[0].Dims = []uint64{1 << 62} }), "larger than any file"},
		{"block", edit(func(f *File) { f.Tensors[1].Dims = []uint64{48, 2} }), "not whole blocks of 32"},
		{"unaligned", edit(func(f *File) { f.Tensors[1].Offset = 32 }), "not a multiple of the alignment 64"},
		{"beyond", edit(func(f *File) { f.Tensors[2].Offset = 256 }), "needs data up to"},
		{"offset wrap", edit(func(f *File) { f.Tensors[2].Offset = math.MaxUint64 - 63 }), "needs data up to"},
		{"nesting", edit(func(f *File) {
			v := ArrayValue{Uint8, []uint8{}}
			for range maxDepth {
				v = ArrayValue{Array, []ArrayValue{v}}
			}
			f.Metadata[16].Value = v
		}), "nested deeper"},
		{"array length", func() []byte {
			b := edit(func(f *File) {
				f.Metadata = f.Metadata[:1]
				f.Metadata[0] = KV{"a", Array, ArrayValue{Uint32, []uint32{1}}}
			})
			i := bytes.Index(b, []byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}) // count 1, then element 1
			le.PutUint64(b[i:], 1<<40)
			return b
		}(), "cannot fit"},
	} {
		_, err := Read(bytes.NewReader(c.b), int64(len(c.b)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	// Every proper prefix of the header is truncated, and says so.
	h := len(encodeHeader(sample()))
	for n := 0; n < h; n++ {
		if _, err := Read(bytes.NewReader(valid[:n]), int64(n)); !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix of %d bytes: %v", n, err)
		}
	}
}

// FuzzRead checks that any input is read or refused without a panic, and
// that what is read re-encodes to the same header bytes and lies within the
// input.
func FuzzRead(f *testing.F) {
	valid := encodeFile(sample(), 256)
	f.Add(valid)
	f.Add(valid[:100])
	f.Add(encodeFile(&File{Version: 2}, 0))
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		enc := encodeHeader(got)
		if !bytes.HasPrefix(b, enc) {
			t.Fatalf("re-encoded header differs from the input")
		}
		if got.DataOffset < int64(len(enc)) || got.DataOffset%int64(got.Alignment) != 0 {
			t.Fatalf("data offset %d, header %d bytes, alignment %d", got.DataOffset, len(enc), got.Alignment)
		}
		for _, ti := range got.Tensors {
			if ti.Size > 0 && got.DataOffset+int64(ti.Offset)+int64(ti.Size) > int64(len(b)) {
				t.Fatalf("tensor %q beyond the input", ti.Name)
			}
		}
	})
}
