// Package gguf reads the header of GGUF files, llama.cpp's model format
// (ggml docs/gguf.md): the metadata key/value pairs and the tensor table,
// without loading tensor data.
//
// A file is little-endian: the magic "GGUF", a uint32 version (2 or 3; v1
// counted in uint32 and is not read), uint64 tensor and metadata counts,
// the metadata (each a string key, a uint32 value type and the value;
// strings are a uint64 length and that many bytes; arrays an element type,
// a uint64 count and the elements), then per tensor its name, uint32 number
// of dimensions, uint64 dimensions (innermost first), uint32 ggml type and
// uint64 offset into the data section. The data section starts at the next
// multiple of general.alignment (a uint32, default 32) after the header,
// and every tensor offset is a multiple of it.
//
// Malformed input gives an error, never a panic, and allocations are
// bounded by the file's size.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
)

// Magic opens every GGUF file.
const Magic = "GGUF"

// DefaultAlignment applies when general.alignment is absent.
const DefaultAlignment = 32

// AlignmentKey is the metadata key of the data alignment.
const AlignmentKey = "general.alignment"

// maxDims is GGML_MAX_DIMS; maxDepth bounds arrays of arrays.
const (
	maxDims  = 4
	maxDepth = 8
)

// File is the header of a GGUF file.
type File struct {
	Version uint32
	// Metadata in file order.
	Metadata []KV
	// Tensors in file order.
	Tensors []TensorInfo
	// Alignment of the data section and of every tensor in it.
	Alignment uint64
	// DataOffset is where the data section starts in the file.
	DataOffset int64
	// Size is the file's size in bytes.
	Size int64
}

// KV is one metadata entry. Value holds the Go type of Type: uint8, int8,
// uint16, int16, uint32, int32, float32, bool, string, uint64, int64,
// float64, or an ArrayValue.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// ArrayValue is an array metadata value. Values is a typed slice: []uint8,
// []int8, []uint16, []int16, []uint32, []int32, []float32, []bool,
// []string, []uint64, []int64, []float64 or, for arrays of arrays,
// []ArrayValue.
type ArrayValue struct {
	Elem   ValueType
	Values any
}

// Len is the number of elements.
func (a ArrayValue) Len() int {
	if a.Values == nil {
		return 0
	}
	return reflect.ValueOf(a.Values).Len()
}

// Index returns element i as the Go type of Elem.
func (a ArrayValue) Index(i int) any { return reflect.ValueOf(a.Values).Index(i).Interface() }

// TensorInfo is one entry of the tensor table.
type TensorInfo struct {
	Name string
	// Dims are ggml's ne: innermost (contiguous) first, so a Hugging Face
	// [out, in] matrix is [in, out].
	Dims []uint64
	Type TensorType
	// Offset is relative to the data section (File.DataOffset).
	Offset uint64
	// Size in bytes; 0 when Type is unknown to this package (a newer
	// ggml type), whose extent is then not checked.
	Size uint64
}

// Elements is the product of Dims.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Lookup returns the metadata entry with the given key.
func (f *File) Lookup(key string) (KV, bool) {
	for _, kv := range f.Metadata {
		if kv.Key == key {
			return kv, true
		}
	}
	return KV{}, false
}

// Section returns a reader of tensor t's bytes in r, the file f was read
// from.
func (f *File) Section(r io.ReaderAt, t TensorInfo) *io.SectionReader {
	return io.NewSectionReader(r, f.DataOffset+int64(t.Offset), int64(t.Size))
}

// Open reads the header of the GGUF file at path.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := Read(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// IsGGUF reports whether the file at path starts with the GGUF magic.
func IsGGUF(path string) bool {
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fh.Close()
	var b [4]byte
	_, err = io.ReadFull(fh, b[:])
	return err == nil && string(b[:]) == Magic
}

// ErrTruncated is wrapped by errors about a file that ends too early.
var ErrTruncated = errors.New("gguf: file truncated")

// Read reads the header of a GGUF file of the given size from r and checks
// that the tensor table fits the file.
func Read(r io.ReaderAt, size int64) (*File, error) {
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size}
	f, err := d.file()
	if err != nil {
		return nil, err
	}
	return f, nil
}

type decoder struct {
	r    *bufio.Reader
	off  int64
	size int64
	buf  [8]byte
}

func (d *decoder) left() int64 { return d.size - d.off }

// need fails unless n more bytes are in the file.
func (d *decoder) need(n uint64, what string) error {
	if n > uint64(d.left()) {
		return fmt.Errorf("%w: %s needs %d bytes at offset %d, %d left", ErrTruncated, what, n, d.off, d.left())
	}
	return nil
}

func (d *decoder) bytes(n int, what string) ([]byte, error) {
	if err := d.need(uint64(n), what); err != nil {
		return nil, err
	}
	b := d.buf[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, fmt.Errorf("gguf: %s at offset %d: %w", what, d.off, err)
	}
	d.off += int64(n)
	return b, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) str(what string) (string, error) {
	n, err := d.u64(what + " length")
	if err != nil {
		return "", err
	}
	if err := d.need(n, what); err != nil {
		return "", err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return "", fmt.Errorf("gguf: %s at offset %d: %w", what, d.off, err)
	}
	d.off += int64(n)
	return string(b), nil
}

func (d *decoder) file() (*File, error) {
	magic, err := d.bytes(4, "magic")
	if err != nil {
		return nil, err
	}
	if string(magic) != Magic {
		return nil, fmt.Errorf("gguf: not a GGUF file (starts with %q, want %q)", magic, Magic)
	}
	f := &File{Size: d.size, Alignment: DefaultAlignment}
	if f.Version, err = d.u32("version"); err != nil {
		return nil, err
	}
	switch v := f.Version; {
	case v == 2 || v == 3:
	case v == 1:
		return nil, fmt.Errorf("gguf: version 1 (32-bit counts) is not supported; convert the file with a current llama.cpp")
	case v == 0x02000000 || v == 0x03000000:
		return nil, fmt.Errorf("gguf: a big-endian file (version %d byte-swapped) is not supported", v>>24)
	default:
		return nil, fmt.Errorf("gguf: unsupported version %d (want 2 or 3)", v)
	}
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	// Each entry takes at least 12 bytes (a key length and a type), each
	// tensor at least 24 (name length, dims count, type, offset).
	if f.Metadata, err = readUnique(d, nKV, 12, "metadata key", d.kv, func(kv KV) string { return kv.Key }); err != nil {
		return nil, err
	}
	if kv, ok := f.Lookup(AlignmentKey); ok {
		a, isU32 := kv.Value.(uint32)
		if !isU32 {
			return nil, fmt.Errorf("gguf: %s is a %s, want u32", AlignmentKey, kv.Type)
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, fmt.Errorf("gguf: %s %d is not a power of two", AlignmentKey, a)
		}
		f.Alignment = uint64(a)
	}
	if f.Tensors, err = readUnique(d, nTensors, 24, "tensor", d.tensor, func(t TensorInfo) string { return t.Name }); err != nil {
		return nil, err
	}
	for _, t := range f.Tensors {
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("gguf: tensor %q: offset %d is not a multiple of the alignment %d", t.Name, t.Offset, f.Alignment)
		}
	}
	f.DataOffset = int64(alignUp(uint64(d.off), f.Alignment))
	for _, t := range f.Tensors {
		if t.Size == 0 {
			continue
		}
		end := t.Offset + t.Size
		if end < t.Offset || f.DataOffset > f.Size || end > uint64(f.Size-f.DataOffset) {
			return nil, fmt.Errorf("%w: tensor %q needs data up to offset %d, the file has %d bytes", ErrTruncated, t.Name, uint64(f.DataOffset)+end, f.Size)
		}
	}
	return f, nil
}

// readUnique reads n entries of at least least bytes each, refusing a name
// seen twice.
func readUnique[T any](d *decoder, n, least uint64, what string, read func() (T, error), name func(T) string) ([]T, error) {
	if n > uint64(d.left())/least {
		return nil, fmt.Errorf("%w: %d %ss cannot fit in %d bytes", ErrTruncated, n, what, d.size)
	}
	var out []T
	seen := map[string]bool{}
	for i := uint64(0); i < n; i++ {
		e, err := read()
		if err != nil {
			return nil, fmt.Errorf("%s %d: %w", what, i, err)
		}
		if seen[name(e)] {
			return nil, fmt.Errorf("gguf: duplicate %s %q", what, name(e))
		}
		seen[name(e)] = true
		out = append(out, e)
	}
	return out, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

func (d *decoder) kv() (KV, error) {
	key, err := d.str("key")
	if err != nil {
		return KV{}, err
	}
	t, err := d.u32("value type")
	if err != nil {
		return KV{}, err
	}
	v, err := d.value(ValueType(t), 0)
	if err != nil {
		return KV{}, fmt.Errorf("%q: %w", key, err)
	}
	return KV{Key: key, Type: ValueType(t), Value: v}, nil
}

func (d *decoder) value(t ValueType, depth int) (any, error) {
	switch t {
	case String:
		return d.str("string")
	case Array:
		return d.array(depth + 1)
	}
	if !t.valid() {
		return nil, fmt.Errorf("gguf: unknown value type %d at offset %d", uint32(t), d.off-4)
	}
	b, err := d.bytes(scalarSize[t], t.String())
	if err != nil {
		return nil, err
	}
	return scalar(t, b)
}

// scalar decodes a fixed-size value.
func scalar(t ValueType, b []byte) (any, error) {
	le := binary.LittleEndian
	switch t {
	case Uint8:
		return b[0], nil
	case Int8:
		return int8(b[0]), nil
	case Uint16:
		return le.Uint16(b), nil
	case Int16:
		return int16(le.Uint16(b)), nil
	case Uint32:
		return le.Uint32(b), nil
	case Int32:
		return int32(le.Uint32(b)), nil
	case Float32:
		return math.Float32frombits(le.Uint32(b)), nil
	case Bool:
		if b[0] > 1 {
			return nil, fmt.Errorf("gguf: bool value %d", b[0])
		}
		return b[0] == 1, nil
	case Uint64:
		return le.Uint64(b), nil
	case Int64:
		return int64(le.Uint64(b)), nil
	case Float64:
		return math.Float64frombits(le.Uint64(b)), nil
	}
	panic("gguf: scalar of type " + t.String())
}

func (d *decoder) array(depth int) (ArrayValue, error) {
	if depth > maxDepth {
		return ArrayValue{}, fmt.Errorf("gguf: arrays nested deeper than %d", maxDepth)
	}
	et, err := d.u32("array element type")
	if err != nil {
		return ArrayValue{}, err
	}
	elem := ValueType(et)
	if !elem.valid() {
		return ArrayValue{}, fmt.Errorf("gguf: unknown array element type %d at offset %d", et, d.off-4)
	}
	n, err := d.u64("array length")
	if err != nil {
		return ArrayValue{}, err
	}
	least := uint64(8) // a string's length
	switch elem {
	case Array:
		least = 12
	case String:
	default:
		least = uint64(scalarSize[elem])
	}
	if n > uint64(d.left())/least {
		return ArrayValue{}, fmt.Errorf("%w: an array of %d %s cannot fit in the %d bytes left", ErrTruncated, n, elem, d.left())
	}
	vals := reflect.MakeSlice(reflect.SliceOf(goTypes[elem]), 0, int(min(n, 1<<16)))
	for i := uint64(0); i < n; i++ {
		var v any
		if elem == Array {
			v, err = d.array(depth + 1)
		} else {
			v, err = d.value(elem, depth)
		}
		if err != nil {
			return ArrayValue{}, fmt.Errorf("element %d: %w", i, err)
		}
		vals = reflect.Append(vals, reflect.ValueOf(v))
	}
	return ArrayValue{Elem: elem, Values: vals.Interface()}, nil
}

func (d *decoder) tensor() (TensorInfo, error) {
	name, err := d.str("tensor name")
	if err != nil {
		return TensorInfo{}, err
	}
	t := TensorInfo{Name: name}
	nd, err := d.u32("dimension count")
	if err != nil {
		return t, err
	}
	if nd > maxDims {
		return t, fmt.Errorf("gguf: tensor %q has %d dimensions, at most %d allowed", name, nd, maxDims)
	}
	t.Dims = make([]uint64, 0, nd)
	elems := uint64(1)
	for i := uint32(0); i < nd; i++ {
		n, err := d.u64("dimension")
		if err != nil {
			return t, err
		}
		if n > math.MaxInt64 || (n != 0 && elems > math.MaxInt64/n) {
			return t, fmt.Errorf("gguf: tensor %q: dimensions %v… overflow", name, append(t.Dims, n))
		}
		elems *= n
		t.Dims = append(t.Dims, n)
	}
	typ, err := d.u32("tensor type")
	if err != nil {
		return t, err
	}
	t.Type = TensorType(typ)
	if t.Offset, err = d.u64("tensor offset"); err != nil {
		return t, err
	}
	if block := t.Type.BlockSize(); block > 0 {
		inner := uint64(1)
		if len(t.Dims) > 0 {
			inner = t.Dims[0]
		}
		if inner%block != 0 {
			return t, fmt.Errorf("gguf: tensor %q: %s rows of %d elements are not whole blocks of %d", name, t.Type, inner, block)
		}
		blocks := elems / block
		if blocks > uint64(math.MaxInt64)/t.Type.TypeSize() {
			return t, fmt.Errorf("%w: tensor %q of %d elements is larger than any file", ErrTruncated, name, elems)
		}
		t.Size = blocks * t.Type.TypeSize()
	}
	return t, nil
}
