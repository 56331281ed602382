package kernels

import (
	"unsafe"
)

// Weights is a read-only row-major matrix of Rows×Cols elements of type Elem,
// usually a slice of a memory-mapped checkpoint. It is never converted to
// float32 as a whole: kernels decode the rows they are about to use.
type Weights struct {
	Elem       Elem
	Rows, Cols int
	Data       []byte
}

// NewWeightsF32 wraps float32 values (row-major Rows×Cols) as Weights without
// copying them.
func NewWeightsF32(rows, cols int, v []float32) Weights {
	if len(v) < rows*cols {
		panic("kernels: NewWeightsF32 slice too short")
	}
	var b []byte
	if len(v) > 0 {
		b = unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*rows*cols)
	}
	return Weights{Elem: ElemF32, Rows: rows, Cols: cols, Data: b}
}

// Validate reports whether the byte length matches the shape.
func (w Weights) Validate() bool {
	return w.Rows >= 0 && w.Cols >= 0 && w.Elem.Size() > 0 && len(w.Data) == w.Rows*w.Cols*w.Elem.Size()
}

// Bytes returns the storage size in bytes.
func (w Weights) Bytes() int { return len(w.Data) }

// Row decodes row r into dst[:Cols].
func (w Weights) Row(dst []float32, r int) {
	n := w.Cols
	es := w.Elem.Size()
	w.decode(dst[:n], w.Data[r*n*es:(r+1)*n*es])
}

// Rows decodes rows [r0, r0+count) into dst[:count*Cols].
func (w Weights) RowsTo(dst []float32, r0, count int) {
	n := w.Cols * count
	es := w.Elem.Size()
	off := r0 * w.Cols * es
	w.decode(dst[:n], w.Data[off:off+n*es])
}

func (w Weights) decode(dst []float32, src []byte) {
	ToFloat32(dst, src, w.Elem)
}

// f32View returns the float32 values of rows [r0, r0+count) without copying
// when the data is float32 and suitably aligned, and nil otherwise.
func (w Weights) f32View(r0, count int) []float32 {
	if w.Elem != ElemF32 || !littleEndian {
		return nil
	}
	off := r0 * w.Cols * 4
	n := count * w.Cols
	if n == 0 {
		return []float32{}
	}
	p := unsafe.Pointer(&w.Data[off])
	if uintptr(p)%4 != 0 {
		return nil
	}
	return unsafe.Slice((*float32)(p), n)
}

var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
