// Package safetensors reads and writes the safetensors checkpoint format
// (huggingface/safetensors): an 8-byte little-endian header length, a JSON
// header, then one data buffer holding every tensor row-major and
// little-endian.
//
// Files are memory-mapped read-only where the OS allows, so opening a
// multi-gigabyte checkpoint costs only the header parse; Tensor data aliases
// the mapping and must not be written to or used after Close. Validation
// follows the reference reader (safetensors/src/tensor.rs): header size cap,
// JSON object, no duplicate names, offsets contiguous from 0 up to the end of
// the file, byte sizes matching shape × dtype. Tensors of dtypes this package
// does not know are tolerated until they are requested.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/ttqproject/ttq/pkg/kernels"
)

// MaxHeaderSize is the largest JSON header accepted, as in the reference
// implementation; it bounds the memory a hostile file can make us allocate.
const MaxHeaderSize = 100_000_000

// MetadataKey is the reserved header key holding string→string metadata.
const MetadataKey = "__metadata__"

// TensorInfo describes one tensor. Begin and End are byte offsets relative to
// the start of the data buffer (file offset 8 + header length + Begin).
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int64
	Begin int64
	End   int64
}

// NumElements is the product of the shape (1 for a scalar). It never
// overflows for a parsed file, because parsing rejects such shapes.
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// ByteSize is End − Begin.
func (t TensorInfo) ByteSize() int64 { return t.End - t.Begin }

// Tensor is a tensor's description plus its bytes. Data aliases the file's
// mapping (or the buffer given to FromBytes): it is read-only and valid only
// until the File is closed.
type Tensor struct {
	TensorInfo
	Data []byte
}

// Float32s decodes an F32, F16 or BF16 tensor into a new []float32.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.checkF32(); err != nil {
		return nil, err
	}
	dst := make([]float32, t.NumElements())
	if err := t.ToF32(dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// ToF32 decodes an F32, F16 or BF16 tensor into dst, which must hold exactly
// NumElements values; it lets callers reuse one buffer across tensors.
func (t Tensor) ToF32(dst []float32) error {
	if err := t.checkF32(); err != nil {
		return err
	}
	if n := t.NumElements(); int64(len(dst)) != n {
		return fmt.Errorf("safetensors: tensor %q has %d elements, destination holds %d", t.Name, n, len(dst))
	}
	e, _ := t.DType.Elem()
	kernels.ToFloat32(dst, t.Data, e)
	return nil
}

// checkF32 validates a convertible dtype and that Data matches the shape, so
// that a hand-built Tensor cannot make us allocate or read out of bounds.
func (t Tensor) checkF32() error {
	e, ok := t.DType.Elem()
	if !ok {
		return fmt.Errorf("safetensors: tensor %q has dtype %s, not a floating-point type convertible to F32", t.Name, t.DType)
	}
	n := int64(1)
	for _, d := range t.Shape {
		if d < 0 || (d != 0 && n > math.MaxInt64/d) {
			return fmt.Errorf("safetensors: tensor %q has invalid shape %v", t.Name, t.Shape)
		}
		n *= d
	}
	if n > int64(len(t.Data)) || int64(len(t.Data)) != n*int64(e.Size()) {
		return fmt.Errorf("safetensors: tensor %q: %d data bytes for %d %s elements", t.Name, len(t.Data), n, t.DType)
	}
	return nil
}

// File is one opened safetensors file.
type File struct {
	path     string
	size     int64
	data     []byte // whole file; nil after Close
	dataOff  int64  // 8 + header length
	infos    map[string]TensorInfo
	names    []string
	metadata map[string]string
	release  func() error // unmaps; nil for FromBytes
	closed   bool
}

// Open maps a safetensors file read-only and validates its header.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("safetensors: %s: not a regular file", path)
	}
	size := st.Size()
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, too short for the 8-byte header length", path, size)
	}
	if size > math.MaxInt {
		return nil, fmt.Errorf("safetensors: %s: file of %d bytes does not fit in memory on this platform", path, size)
	}
	data, release, err := mapFile(fh, size)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	f, err := parse(path, data)
	if err != nil {
		if release != nil {
			release()
		}
		return nil, err
	}
	f.release = release
	register(f, st)
	return f, nil
}

// ReleasePages tells f that b, the data of one of its tensors, will not be
// read again soon: where f is mapped from disk, b's pages leave the
// process's resident set and are read back from the file if b is touched
// again, so b stays valid and unchanged. It does nothing for other memory
// and for files held in memory (FromBytes).
func (f *File) ReleasePages(b []byte) {
	if f.release == nil || f.closed || len(b) == 0 || !within(f.data, b) {
		return
	}
	dropPages(b)
}

func within(outer, inner []byte) bool {
	o := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	i := uintptr(unsafe.Pointer(unsafe.SliceData(inner)))
	return i >= o && i+uintptr(len(inner)) <= o+uintptr(len(outer))
}

// FromBytes parses a safetensors file held in memory; name is used in error
// messages and returned by Path. Tensor data aliases buf.
func FromBytes(name string, buf []byte) (*File, error) {
	return parse(name, buf)
}

func parse(path string, data []byte) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: %s: "+format, append([]any{path}, args...)...)
	}
	size := int64(len(data))
	if size < 8 {
		return nil, fail("file is %d bytes, too short for the 8-byte header length", size)
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fail("header length %d exceeds the %d-byte limit", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, fail("header length %d exceeds the %d bytes after the length field (truncated file?)", n, size-8)
	}
	hdr := data[8 : 8+n]
	if !utf8.Valid(hdr) {
		return nil, fail("header is not valid UTF-8")
	}
	infos, meta, err := parseHeader(hdr)
	if err != nil {
		return nil, fail("%v", err)
	}
	dataOff := int64(8 + n)
	bufLen := size - dataOff

	sorted := make([]TensorInfo, 0, len(infos))
	for _, t := range infos {
		sorted = append(sorted, t)
	}
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	var pos int64
	for _, t := range sorted {
		switch {
		case t.Begin < pos:
			return nil, fail("tensor %q data_offsets [%d, %d) overlap the previous tensor, which ends at %d", t.Name, t.Begin, t.End, pos)
		case t.Begin > pos:
			return nil, fail("tensor %q data_offsets [%d, %d) leave a gap of %d bytes after offset %d", t.Name, t.Begin, t.End, t.Begin-pos, pos)
		}
		pos = t.End
	}
	if pos != bufLen {
		if pos > bufLen {
			return nil, fail("tensors end at data offset %d but the data buffer holds only %d bytes (truncated file?)", pos, bufLen)
		}
		return nil, fail("tensors end at data offset %d but the data buffer holds %d bytes (%d trailing bytes)", pos, bufLen, bufLen-pos)
	}

	names := make([]string, 0, len(infos))
	for name := range infos {
		names = append(names, name)
	}
	slices.Sort(names)
	return &File{
		path:     path,
		size:     size,
		data:     data,
		dataOff:  dataOff,
		infos:    infos,
		names:    names,
		metadata: meta,
	}, nil
}

// parseHeader decodes the JSON header token by token: encoding/json's map
// decoding keeps the last of duplicate keys silently, and the format
// requires rejecting them.
func parseHeader(hdr []byte) (map[string]TensorInfo, map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("header is not valid JSON: %v", jsonErr(err))
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("header is not a JSON object")
	}
	infos := make(map[string]TensorInfo)
	var meta map[string]string
	sawMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON: %v", jsonErr(err))
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("header is not valid JSON")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("header is not valid JSON: %v", jsonErr(err))
		}
		if key == MetadataKey {
			if sawMeta {
				return nil, nil, fmt.Errorf("duplicate key %q in header", key)
			}
			sawMeta = true
			if meta, err = parseMetadata(raw); err != nil {
				return nil, nil, err
			}
			continue
		}
		if _, dup := infos[key]; dup {
			return nil, nil, fmt.Errorf("duplicate tensor name %q in header", key)
		}
		info, err := parseEntry(key, raw)
		if err != nil {
			return nil, nil, err
		}
		infos[key] = info
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, fmt.Errorf("header is not valid JSON: %v", jsonErr(err))
	}
	// Only padding may follow the object.
	if rest := bytes.TrimLeft(hdr[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		return nil, nil, fmt.Errorf("header has %d unexpected bytes after the JSON object", len(rest))
	}
	return infos, meta, nil
}

func jsonErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", MetadataKey, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s must be an object of strings", MetadataKey)
	}
	meta := make(map[string]string)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", MetadataKey, err)
		}
		key := tok.(string) // object keys are always strings once Token succeeds
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", MetadataKey, err)
		}
		val, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("%s value for %q is not a string", MetadataKey, key)
		}
		if _, dup := meta[key]; dup {
			return nil, fmt.Errorf("duplicate key %q in %s", key, MetadataKey)
		}
		meta[key] = val
	}
	return meta, nil
}

// parseEntry decodes {"dtype": ..., "shape": [...], "data_offsets": [b, e]},
// requiring exactly these three keys.
func parseEntry(name string, raw json.RawMessage) (TensorInfo, error) {
	fail := func(format string, args ...any) (TensorInfo, error) {
		return TensorInfo{}, fmt.Errorf("tensor %q: "+format, append([]any{name}, args...)...)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fail("%v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fail("entry is not an object")
	}
	info := TensorInfo{Name: name}
	var haveDType, haveShape, haveOffsets bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("%v", err)
		}
		key := tok.(string)
		switch key {
		case "dtype":
			if haveDType {
				return fail("duplicate key %q", key)
			}
			haveDType = true
			tok, err := dec.Token()
			if err != nil {
				return fail("%v", err)
			}
			s, ok := tok.(string)
			if !ok || s == "" {
				return fail("dtype is not a non-empty string")
			}
			info.DType = DType(s)
		case "shape":
			if haveShape {
				return fail("duplicate key %q", key)
			}
			haveShape = true
			if info.Shape, err = intArray(dec); err != nil {
				return fail("shape: %v", err)
			}
			if info.Shape == nil {
				info.Shape = []int64{}
			}
		case "data_offsets":
			if haveOffsets {
				return fail("duplicate key %q", key)
			}
			haveOffsets = true
			offs, err := intArray(dec)
			if err != nil {
				return fail("data_offsets: %v", err)
			}
			if len(offs) != 2 {
				return fail("data_offsets has %d values, want 2", len(offs))
			}
			info.Begin, info.End = offs[0], offs[1]
		default:
			return fail("unexpected key %q (want exactly dtype, shape, data_offsets)", key)
		}
	}
	switch {
	case !haveDType:
		return fail("missing dtype")
	case !haveShape:
		return fail("missing shape")
	case !haveOffsets:
		return fail("missing data_offsets")
	case info.End < info.Begin:
		return fail("data_offsets [%d, %d) end before they begin", info.Begin, info.End)
	}
	numel := int64(1)
	for _, d := range info.Shape {
		if d != 0 && numel > math.MaxInt64/d {
			return fail("shape %v overflows the element count", info.Shape)
		}
		numel *= d
	}
	if sz := int64(info.DType.Size()); sz > 0 {
		if numel > math.MaxInt64/sz {
			return fail("shape %v overflows the byte size for dtype %s", info.Shape, info.DType)
		}
		if want := numel * sz; info.End-info.Begin != want {
			return fail("data_offsets [%d, %d) span %d bytes, but shape %v of %s needs %d", info.Begin, info.End, info.End-info.Begin, info.Shape, info.DType, want)
		}
	}
	return info, nil
}

// intArray reads a JSON array of non-negative integers that fit in int64.
func intArray(dec *json.Decoder) ([]int64, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, errors.New("not an array")
	}
	var out []int64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fmt.Errorf("element %v is not an integer", tok)
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return nil, fmt.Errorf("value %s is out of range", num)
			}
			return nil, fmt.Errorf("value %s is not an integer", num)
		}
		if v < 0 {
			return nil, fmt.Errorf("value %d is negative", v)
		}
		out = append(out, v)
		if len(out) > 1<<16 {
			return nil, errors.New("too many values")
		}
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, err
	}
	return out, nil
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string { return slices.Clone(f.names) }

// Info describes a tensor without touching its data.
func (f *File) Info(name string) (TensorInfo, bool) {
	t, ok := f.infos[name]
	if ok {
		t.Shape = slices.Clone(t.Shape)
	}
	return t, ok
}

// Tensor returns a tensor whose Data aliases the file. It fails for a name
// not in the file, for a dtype whose element size is unknown, and after Close.
func (f *File) Tensor(name string) (Tensor, error) {
	t, ok := f.Info(name)
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: %s: no tensor %q", f.path, name)
	}
	if f.closed {
		return Tensor{}, fmt.Errorf("safetensors: %s: tensor %q requested after Close", f.path, name)
	}
	if !t.DType.Known() {
		return Tensor{}, fmt.Errorf("safetensors: %s: tensor %q has unsupported dtype %q", f.path, name, string(t.DType))
	}
	lo, hi := f.dataOff+t.Begin, f.dataOff+t.End
	return Tensor{TensorInfo: t, Data: f.data[lo:hi:hi]}, nil
}

// Metadata returns a copy of the __metadata__ map (nil when absent).
func (f *File) Metadata() map[string]string {
	if f.metadata == nil {
		return nil
	}
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// Path is the path given to Open (or the name given to FromBytes).
func (f *File) Path() string { return f.path }

// Size is the file size in bytes.
func (f *File) Size() int64 { return f.size }

// DataOffset is the file offset of the data buffer (8 + header length).
func (f *File) DataOffset() int64 { return f.dataOff }

// Close unmaps the file. Tensor data obtained earlier must not be used
// afterwards. Closing twice is harmless.
func (f *File) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	unregister(f)
	f.data = nil
	if f.release != nil {
		if err := f.release(); err != nil {
			return fmt.Errorf("safetensors: %s: unmap: %w", f.path, err)
		}
	}
	return nil
}
