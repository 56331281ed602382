package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// build assembles a file from a header string and a data buffer.
func build(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func f32bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

type expectedFixture struct {
	HeaderLength int64             `json:"header_length"`
	FileSize     int64             `json:"file_size"`
	Metadata     map[string]string `json:"metadata"`
	Tensors      map[string]struct {
		DType       string            `json:"dtype"`
		Shape       []int64           `json:"shape"`
		DataOffsets [2]int64          `json:"data_offsets"`
		Hex         string            `json:"hex"`
		Values      []json.RawMessage `json:"values"`
	} `json:"tensors"`
}

// parseExpected reads a value written by the fixture script: a number or one
// of "nan", "inf", "-inf", "-0".
func parseExpected(t *testing.T, raw json.RawMessage) float64 {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "nan":
			return math.NaN()
		case "inf":
			return math.Inf(1)
		case "-inf":
			return math.Inf(-1)
		case "-0":
			return math.Copysign(0, -1)
		}
		t.Fatalf("unexpected value %q", s)
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFixture reads a file written by an independent writer
// (scripts/golden/safetensors_fixture.py: Python json + struct) with an
// unpadded header and unaligned tensors.
func TestFixture(t *testing.T) {
	var want expectedFixture
	raw, err := os.ReadFile("testdata/fixture.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	f, err := Open("testdata/fixture.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Size() != want.FileSize || f.DataOffset() != 8+want.HeaderLength {
		t.Errorf("size %d, data offset %d; want %d, %d", f.Size(), f.DataOffset(), want.FileSize, 8+want.HeaderLength)
	}
	if want.HeaderLength%8 == 0 {
		t.Fatal("fixture header should be unaligned")
	}
	if got := f.Metadata(); !mapsEqual(got, want.Metadata) {
		t.Errorf("metadata %v, want %v", got, want.Metadata)
	}
	var wantNames []string
	for name := range want.Tensors {
		wantNames = append(wantNames, name)
	}
	slices.Sort(wantNames)
	if got := f.Names(); !slices.Equal(got, wantNames) {
		t.Fatalf("names %v, want %v", got, wantNames)
	}
	for name, w := range want.Tensors {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if string(tn.DType) != w.DType || !slices.Equal(tn.Shape, w.Shape) || tn.Begin != w.DataOffsets[0] || tn.End != w.DataOffsets[1] {
			t.Errorf("%s: info %+v, want %s %v %v", name, tn.TensorInfo, w.DType, w.Shape, w.DataOffsets)
		}
		if got := hex.EncodeToString(tn.Data); got != w.Hex {
			t.Errorf("%s: data %s, want %s", name, got, w.Hex)
		}
		if tn.NumElements() != int64(len(w.Values)) {
			t.Errorf("%s: %d elements, want %d", name, tn.NumElements(), len(w.Values))
		}
		switch tn.DType {
		case F32, F16, BF16:
			got, err := tn.Float32s()
			if err != nil {
				t.Fatal(err)
			}
			for i, rv := range w.Values {
				wv := float32(parseExpected(t, rv))
				if math.Float32bits(got[i]) != math.Float32bits(wv) {
					t.Errorf("%s[%d] = %g (%#08x), want %g (%#08x)", name, i, got[i], math.Float32bits(got[i]), wv, math.Float32bits(wv))
				}
			}
		default:
			if _, err := tn.Float32s(); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s: Float32s on %s: error %v, want one naming the tensor", name, tn.DType, err)
			}
			for i, rv := range w.Values {
				wv := parseExpected(t, rv)
				var got float64
				switch tn.DType {
				case I32:
					got = float64(int32(binary.LittleEndian.Uint32(tn.Data[4*i:])))
				case U8:
					got = float64(tn.Data[i])
				case F64:
					got = math.Float64frombits(binary.LittleEndian.Uint64(tn.Data[8*i:]))
				default:
					t.Fatalf("%s: unexpected dtype %s", name, tn.DType)
				}
				if got != wv {
					t.Errorf("%s[%d] = %v, want %v", name, i, got, wv)
				}
			}
		}
	}
	// FromBytes must agree with Open.
	buf, _ := os.ReadFile("testdata/fixture.safetensors")
	g, err := FromBytes("fixture", buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range f.Names() {
		a, _ := f.Tensor(name)
		b, _ := g.Tensor(name)
		if !bytes.Equal(a.Data, b.Data) {
			t.Errorf("%s: FromBytes and Open differ", name)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestHalfConversions checks F16 and BF16 decoding against bit patterns
// worked out by hand from the IEEE 754 binary16 and bfloat16 layouts.
func TestHalfConversions(t *testing.T) {
	cases := []struct {
		dtype DType
		bits  uint16
		want  float32
	}{
		{F16, 0x3c00, 1},                 // exponent 15 = bias
		{F16, 0xc000, -2},                // sign, exponent 16
		{F16, 0x7bff, 65504},             // max finite: (2 − 2⁻¹⁰)·2¹⁵
		{F16, 0x0400, 1.0 / 16384},       // min normal 2⁻¹⁴
		{F16, 0x0001, 1.0 / 16777216},    // min subnormal 2⁻²⁴
		{F16, 0x03ff, 1023.0 / 16777216}, // max subnormal 1023·2⁻²⁴
		{F16, 0x3555, 0.333251953125},    // (1 + 341/1024)·2⁻²
		{F16, 0x8000, float32(math.Copysign(0, -1))},
		{F16, 0x7c00, float32(math.Inf(1))},
		{F16, 0xfc00, float32(math.Inf(-1))},
		{BF16, 0x3f80, 1},
		{BF16, 0xc040, -3},
		{BF16, 0x4049, 3.140625},                      // (1 + 73/128)·2
		{BF16, 0x0001, float32(math.Ldexp(1, -133))},  // float32 subnormal 2⁻¹⁴⁹⁺¹⁶
		{BF16, 0x7f7f, float32(math.Ldexp(255, 120))}, // (2 − 2⁻⁷)·2¹²⁷
		{BF16, 0xff80, float32(math.Inf(-1))},
	}
	for _, c := range cases {
		tn := Tensor{TensorInfo: TensorInfo{Name: "x", DType: c.dtype, Shape: []int64{1}}, Data: []byte{byte(c.bits), byte(c.bits >> 8)}}
		got, err := tn.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if math.Float32bits(got[0]) != math.Float32bits(c.want) {
			t.Errorf("%s %#04x = %g, want %g", c.dtype, c.bits, got[0], c.want)
		}
	}
	for _, c := range []struct {
		dtype DType
		bits  uint16
	}{{F16, 0x7e00}, {F16, 0xfe01}, {BF16, 0x7fc0}, {BF16, 0xffc1}} {
		tn := Tensor{TensorInfo: TensorInfo{Name: "x", DType: c.dtype, Shape: []int64{}}, Data: []byte{byte(c.bits), byte(c.bits >> 8)}}
		got, err := tn.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if !math.IsNaN(float64(got[0])) {
			t.Errorf("%s %#04x = %g, want NaN", c.dtype, c.bits, got[0])
		}
	}
	// A hand-built tensor whose data does not match its shape is refused.
	bad := Tensor{TensorInfo: TensorInfo{Name: "bad", DType: F32, Shape: []int64{3}}, Data: make([]byte, 8)}
	if _, err := bad.Float32s(); err == nil {
		t.Error("Float32s accepted 8 bytes for 3 F32 elements")
	}
	huge := Tensor{TensorInfo: TensorInfo{Name: "huge", DType: F32, Shape: []int64{1 << 40, 1 << 40}}}
	if _, err := huge.Float32s(); err == nil {
		t.Error("Float32s accepted an overflowing shape")
	}
}

func TestMalformed(t *testing.T) {
	ok := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	eight := make([]byte, 8)
	hugeLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(hugeLen, MaxHeaderSize+1)
	longLen := make([]byte, 16)
	binary.LittleEndian.PutUint64(longLen, 9)
	maxLen := make([]byte, 8)
	binary.LittleEndian.PutUint64(maxLen, math.MaxUint64)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty file", nil, "too short"},
		{"truncated length", []byte{1, 0, 0}, "too short"},
		{"header longer than file", longLen, "exceeds the 8 bytes"},
		{"header over limit", hugeLen, "limit"},
		{"header length max uint64", maxLen, "limit"},
		{"invalid utf8", build("{\"\xff\":1}", nil), "UTF-8"},
		{"not json", build("{nope", nil), "not valid JSON"},
		{"truncated json", build(`{"a":{"dtype":"F32"`, nil), "not valid JSON"},
		{"array", build(`[1,2]`, nil), "not a JSON object"},
		{"string", build(`"x"`, nil), "not a JSON object"},
		{"garbage after object", build(`{} x`, nil), "unexpected bytes"},
		{"second object", build(`{}{}`, nil), "unexpected bytes"},
		{"duplicate tensor", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, []byte{1, 2}), `duplicate tensor name "a"`},
		{"duplicate metadata", build(`{"__metadata__":{},"__metadata__":{}}`, nil), "duplicate key"},
		{"duplicate metadata key", build(`{"__metadata__":{"k":"a","k":"b"}}`, nil), "duplicate key \"k\""},
		{"metadata number", build(`{"__metadata__":{"total_size":12}}`, nil), "not a string"},
		{"metadata nested", build(`{"__metadata__":{"k":{"x":"y"}}}`, nil), "not a string"},
		{"metadata list", build(`{"__metadata__":["a"]}`, nil), "must be an object"},
		{"entry not object", build(`{"a":[1]}`, nil), "not an object"},
		{"missing dtype", build(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, eight), "missing dtype"},
		{"missing shape", build(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, eight), "missing shape"},
		{"missing offsets", build(`{"a":{"dtype":"F32","shape":[2]}}`, eight), "missing data_offsets"},
		{"extra key", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, eight), `unexpected key "x"`},
		{"duplicate entry key", build(`{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight), "duplicate key"},
		{"dtype not string", build(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, eight), "dtype"},
		{"three offsets", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, eight), "3 values"},
		{"begin after end", build(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}`, eight), "end before"},
		{"negative shape", build(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), "negative"},
		{"negative offset", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, eight), "negative"},
		{"fractional shape", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, eight), "not an integer"},
		{"exponent shape", build(`{"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}}`, eight), "not an integer"},
		{"string shape", build(`{"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}}`, eight), "not an integer"},
		{"offset out of range", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,100000000000000000000]}}`, eight), "out of range"},
		{"overflowing shape", build(`{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight), "overflows"},
		{"overflowing bytes", build(`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, eight), "overflows"},
		{"wrong byte size", build(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight), "span 8 bytes"},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "overlap"},
		{"gap", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}`, eight), "gap of 2 bytes"},
		{"gap at start", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), "gap"},
		{"trailing bytes", build(ok, make([]byte, 12)), "4 trailing bytes"},
		{"truncated data", build(ok, make([]byte, 5)), "holds only 5 bytes"},
		{"no tensors but data", build(`{}`, []byte{1}), "1 trailing bytes"},
		{"unknown dtype with gap", build(`{"a":{"dtype":"Q9","shape":[2],"data_offsets":[1,8]}}`, eight), "gap"},
		{"unknown dtype overflowing shape", build(`{"a":{"dtype":"Q9","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}`, eight), "overflows"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromBytes("bad.safetensors", c.file)
			if err == nil {
				t.Fatalf("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, "safetensors: bad.safetensors: ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want a one-line error naming the file and containing %q", msg, c.want)
			}
		})
	}
}

func TestAccepted(t *testing.T) {
	cases := []struct {
		name  string
		file  []byte
		names []string
	}{
		{"padded with spaces", build(`{}      `, nil), nil},
		{"leading whitespace", build(" \n{}", nil), nil},
		{"null metadata", build(`{"__metadata__":null}`, nil), nil},
		{"empty tensor", build(`{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7}), []string{"a", "e"}},
		{"empty tensor at end", build(`{"e":{"dtype":"F32","shape":[3,0],"data_offsets":[1,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7}), []string{"a", "e"}},
		{"scalar", build(`{"s":{"dtype":"I16","shape":[],"data_offsets":[0,2]}}`, []byte{1, 2}), []string{"s"}},
		{"escaped name", build(`{"a\u00e9\"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{7}), []string{"aé\"b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := FromBytes("ok", c.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Names(); !slices.Equal(got, c.names) && !(len(got) == 0 && len(c.names) == 0) {
				t.Errorf("names %q, want %q", got, c.names)
			}
			for _, n := range f.Names() {
				if _, err := f.Tensor(n); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

func TestUnknownDTypeTolerated(t *testing.T) {
	file := build(`{"q":{"dtype":"F4","shape":[4],"data_offsets":[0,2]},"w":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}}`, append([]byte{0xab, 0xcd}, f32bytes(1.5)...))
	f, err := FromBytes("mixed.safetensors", file)
	if err != nil {
		t.Fatalf("file with an unknown dtype rejected at parse time: %v", err)
	}
	if info, ok := f.Info("q"); !ok || info.DType != "F4" || info.ByteSize() != 2 {
		t.Errorf("Info(q) = %+v, %v", info, ok)
	}
	_, err = f.Tensor("q")
	if err == nil || !strings.Contains(err.Error(), `"q"`) || !strings.Contains(err.Error(), "F4") || !strings.Contains(err.Error(), "mixed.safetensors") {
		t.Errorf("Tensor(q) error %v, want one naming file, tensor and dtype", err)
	}
	w, err := f.Tensor("w")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := w.Float32s(); err != nil || v[0] != 1.5 {
		t.Errorf("w = %v, %v", v, err)
	}
	if _, err := f.Tensor("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("absent tensor error %v", err)
	}
}

func TestOpenAndClose(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.safetensors")
	if err := os.WriteFile(p, build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32bytes(1, 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path() != p || !IsOpen(p) {
		t.Errorf("Path %q, IsOpen %v", f.Path(), IsOpen(p))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if IsOpen(p) {
		t.Error("still registered after Close")
	}
	if _, err := f.Tensor("a"); err == nil {
		t.Error("Tensor after Close succeeded")
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.safetensors")); err == nil || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("missing file error %v", err)
	}
	if _, err := Open(dir); err == nil {
		t.Error("opened a directory")
	}
	short := filepath.Join(dir, "short.safetensors")
	os.WriteFile(short, []byte{1, 2}, 0o644)
	if _, err := Open(short); err == nil || !strings.Contains(err.Error(), short) {
		t.Errorf("short file error %v", err)
	}
	if IsOpen(short) {
		t.Error("failed Open left the file registered")
	}
}
