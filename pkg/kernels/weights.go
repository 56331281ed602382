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

// littleEndian lets float32 data be copied as bytes.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()
