package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// TensorSpec declares one tensor of a file to be written.
type TensorSpec struct {
	Name  string
	DType DType
	Shape []int64
}

// Writer streams a safetensors file: the header is fixed by Create, then the
// tensors' bytes arrive in the declared order, each either in one Write or in
// several WriteChunk calls. Nothing appears at the destination until Close
// succeeds: data goes to a temporary file in the destination directory that
// Close renames into place, and any failure removes it.
type Writer struct {
	path  string
	tmp   *os.File
	bw    *bufio.Writer
	specs []TensorInfo
	cur   int   // index of the tensor being written
	done  int64 // bytes of specs[cur] written so far
	err   error // first error; the writer is dead once set
	final bool  // Close or Abort has run
}

// Create declares the tensors (in the order their data will be written) and
// metadata of a new file at path and writes its header to a temporary file.
// It refuses a destination that is the same file as one currently open
// through Open, so an export can never clobber its own input.
func Create(path string, specs []TensorSpec, metadata map[string]string) (*Writer, error) {
	infos, err := layout(specs)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	hdr, err := encodeHeader(infos, metadata)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	if err := checkDest(path); err != nil {
		return nil, err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: create temporary file: %w", path, err)
	}
	w := &Writer{path: path, tmp: tmp, bw: bufio.NewWriterSize(tmp, 1<<20), specs: infos}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(len(hdr)))
	w.bw.Write(lenBuf[:])
	if _, err := w.bw.Write(hdr); err != nil {
		w.fail(fmt.Errorf("safetensors: %s: write header: %w", path, err))
		return nil, w.err
	}
	return w, nil
}

// checkDest refuses to replace a file open through this package.
func checkDest(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return nil // nothing there yet (or unreachable: CreateTemp will say so)
	}
	if in, ok := openInput(st); ok {
		return fmt.Errorf("safetensors: %s: refusing to overwrite %s, which is open as an input", path, in)
	}
	if st.IsDir() {
		return fmt.Errorf("safetensors: %s: destination is a directory", path)
	}
	return nil
}

// layout assigns contiguous offsets in declaration order.
func layout(specs []TensorSpec) ([]TensorInfo, error) {
	infos := make([]TensorInfo, len(specs))
	seen := make(map[string]bool, len(specs))
	var off int64
	for i, s := range specs {
		switch {
		case s.Name == "":
			return nil, fmt.Errorf("tensor %d has an empty name", i)
		case s.Name == MetadataKey:
			return nil, fmt.Errorf("tensor name %q is reserved", s.Name)
		case seen[s.Name]:
			return nil, fmt.Errorf("duplicate tensor name %q", s.Name)
		case !s.DType.Known():
			return nil, fmt.Errorf("tensor %q: cannot write dtype %q of unknown element size", s.Name, string(s.DType))
		}
		seen[s.Name] = true
		n := int64(s.DType.Size())
		for _, d := range s.Shape {
			if d < 0 {
				return nil, fmt.Errorf("tensor %q: negative dimension in shape %v", s.Name, s.Shape)
			}
			if d != 0 && n > math.MaxInt64/d {
				return nil, fmt.Errorf("tensor %q: shape %v overflows", s.Name, s.Shape)
			}
			n *= d
		}
		if off > math.MaxInt64-n {
			return nil, errors.New("total data size overflows")
		}
		shape := slices.Clone(s.Shape)
		if shape == nil {
			shape = []int64{}
		}
		infos[i] = TensorInfo{Name: s.Name, DType: s.DType, Shape: shape, Begin: off, End: off + n}
		off += n
	}
	return infos, nil
}

// encodeHeader writes the JSON the way the reference writer does (compact,
// __metadata__ first with sorted keys, tensors in offset order) and pads it
// with spaces to a multiple of 8 so that every tensor starts 8-aligned in the
// file when offsets are multiples of 8.
func encodeHeader(infos []TensorInfo, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	str := func(s string) {
		// json.Marshal of a string cannot fail; HTML escaping is disabled so
		// names round-trip byte-for-byte as other writers emit them.
		var sb bytes.Buffer
		enc := json.NewEncoder(&sb)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		b.Write(bytes.TrimSuffix(sb.Bytes(), []byte("\n")))
	}
	b.WriteByte('{')
	first := true
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		str(MetadataKey)
		b.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			str(k)
			b.WriteByte(':')
			str(metadata[k])
		}
		b.WriteByte('}')
		first = false
	}
	for _, t := range infos {
		if !first {
			b.WriteByte(',')
		}
		first = false
		str(t.Name)
		b.WriteString(`:{"dtype":`)
		str(string(t.DType))
		b.WriteString(`,"shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprint(&b, d)
		}
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, t.Begin, t.End)
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	if b.Len() > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the %d-byte limit", b.Len(), MaxHeaderSize)
	}
	return b.Bytes(), nil
}

// Write writes the whole data of the next declared tensor, which must be
// name, in one piece of exactly its byte size. Zero-byte tensors may be
// written (with empty data) or skipped.
func (w *Writer) Write(name string, data []byte) error {
	if err := w.next(name); err != nil {
		return err
	}
	t := w.specs[w.cur]
	if w.done != 0 {
		return w.fail(fmt.Errorf("safetensors: %s: Write of tensor %q after %d bytes were written with WriteChunk", w.path, name, w.done))
	}
	if int64(len(data)) != t.ByteSize() {
		return w.fail(fmt.Errorf("safetensors: %s: tensor %q needs %d bytes (%v of %s), got %d", w.path, name, t.ByteSize(), t.Shape, t.DType, len(data)))
	}
	return w.put(data)
}

// WriteChunk appends the next piece of the declared tensor name, so a large
// tensor can be produced piecewise without holding it whole; the tensor is
// complete once its byte size has been reached.
func (w *Writer) WriteChunk(name string, data []byte) error {
	if err := w.next(name); err != nil {
		return err
	}
	t := w.specs[w.cur]
	if w.done+int64(len(data)) > t.ByteSize() {
		return w.fail(fmt.Errorf("safetensors: %s: chunk of %d bytes overruns tensor %q (%d of %d bytes already written)", w.path, len(data), name, w.done, t.ByteSize()))
	}
	return w.put(data)
}

func (w *Writer) next(name string) error {
	if w.final {
		return fmt.Errorf("safetensors: %s: write of tensor %q after Close or Abort", w.path, name)
	}
	if w.err != nil {
		return w.err
	}
	// Zero-byte tensors may be written or left out.
	for w.cur < len(w.specs) && w.done == 0 && w.specs[w.cur].ByteSize() == 0 && w.specs[w.cur].Name != name {
		w.cur++
	}
	if w.cur >= len(w.specs) {
		return w.fail(fmt.Errorf("safetensors: %s: tensor %q written after all declared tensors", w.path, name))
	}
	if want := w.specs[w.cur].Name; name != want {
		return w.fail(fmt.Errorf("safetensors: %s: tensor %q written out of order; next declared tensor is %q", w.path, name, want))
	}
	return nil
}

func (w *Writer) put(data []byte) error {
	if _, err := w.bw.Write(data); err != nil {
		return w.fail(fmt.Errorf("safetensors: %s: %w", w.path, err))
	}
	w.done += int64(len(data))
	if w.done == w.specs[w.cur].ByteSize() {
		w.cur++
		w.done = 0
	}
	return nil
}

// fail records the first error and discards the temporary file.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	w.discard()
	return w.err
}

func (w *Writer) discard() {
	if w.tmp != nil {
		w.tmp.Close()
		os.Remove(w.tmp.Name())
		w.tmp = nil
	}
}

// Close checks that every declared tensor was written in full, flushes and
// fsyncs the data and renames the temporary file into place. On any error the
// temporary file is removed and the destination is left untouched.
func (w *Writer) Close() error {
	if w.final {
		if w.err != nil {
			return w.err
		}
		return nil
	}
	w.final = true
	if w.err != nil {
		return w.err
	}
	for w.cur < len(w.specs) && w.done == 0 && w.specs[w.cur].ByteSize() == 0 {
		w.cur++
	}
	if w.cur < len(w.specs) {
		t := w.specs[w.cur]
		return w.fail(fmt.Errorf("safetensors: %s: Close with tensor %q incomplete (%d of %d bytes) and %d declared tensors unwritten", w.path, t.Name, w.done, t.ByteSize(), len(w.specs)-w.cur-1))
	}
	if err := w.bw.Flush(); err != nil {
		return w.fail(fmt.Errorf("safetensors: %s: %w", w.path, err))
	}
	if err := w.tmp.Chmod(0o644); err != nil {
		return w.fail(fmt.Errorf("safetensors: %s: %w", w.path, err))
	}
	if err := w.tmp.Sync(); err != nil {
		return w.fail(fmt.Errorf("safetensors: %s: fsync: %w", w.path, err))
	}
	name := w.tmp.Name()
	if err := w.tmp.Close(); err != nil {
		w.tmp = nil
		os.Remove(name)
		w.err = fmt.Errorf("safetensors: %s: %w", w.path, err)
		return w.err
	}
	w.tmp = nil
	// An input may have been opened after Create.
	if err := checkDest(w.path); err != nil {
		os.Remove(name)
		w.err = err
		return err
	}
	if err := os.Rename(name, w.path); err != nil {
		os.Remove(name)
		w.err = fmt.Errorf("safetensors: %s: %w", w.path, err)
		return w.err
	}
	syncDir(filepath.Dir(w.path))
	return nil
}

// syncDir makes the rename durable where directories can be fsynced; failure
// is not an error because some filesystems and OSes refuse it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Abort discards everything written; the destination is left untouched.
// Calling it after Close, or twice, does nothing.
func (w *Writer) Abort() error {
	if w.final {
		return nil
	}
	w.final = true
	if w.err == nil {
		w.err = fmt.Errorf("safetensors: %s: write aborted", w.path)
	}
	w.discard()
	return nil
}

// Path is the destination path.
func (w *Writer) Path() string { return w.path }

// WriteFile writes tensors, in the given order, and metadata to path through
// a Writer.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) error {
	specs := make([]TensorSpec, len(tensors))
	for i, t := range tensors {
		specs[i] = TensorSpec{Name: t.Name, DType: t.DType, Shape: t.Shape}
	}
	w, err := Create(path, specs, metadata)
	if err != nil {
		return err
	}
	for _, t := range tensors {
		if err := w.Write(t.Name, t.Data); err != nil {
			return err
		}
	}
	return w.Close()
}
