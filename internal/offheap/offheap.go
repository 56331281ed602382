// Package offheap holds the large working arrays of calibration (Hessians,
// float64 copies of weight matrices, a layer's calibration activations)
// outside the Go heap.
//
// Why: Go's collector lets the heap grow to (1 + GOGC/100) times what was
// live after the last collection before it runs again, so when a few
// arrays of hundreds of megabytes make up most of the live set, their
// headroom is paid again as garbage that has not been collected yet — on
// GPTQ over one TinyLlama layer that was 0.3 GB of a 1.2 GB peak. These
// arrays' lifetimes are known exactly (a Hessian lives from its first
// product to the last matrix it factors), so they are mapped and unmapped
// explicitly: the peak is what is live, and the memory is back the moment
// it is freed. Large mappings ask for transparent huge pages, so first
// touches fault 2 MB at a time instead of 4 KB (on the shared Zen 5 machine
// first-touch faults of 4 KB pages were about 12 % of GPTQ's CPU time).
//
// A slice from an Array must not be used after Free: on Linux that is a
// segmentation fault, never silent reuse.
package offheap

import (
	"fmt"
	"unsafe"
)

// minMapped is the size below which an ordinary Go allocation is used: a
// mapping costs a system call and at least one page.
const minMapped = 1 << 20

// Number is what an Array holds.
type Number interface {
	~float32 | ~float64 | ~int32 | ~uint8
}

// Array is n zeroed elements, mapped outside the Go heap when large.
type Array[T Number] struct {
	S   []T
	raw []byte // the mapping; nil for small arrays
}

// New returns n zeroed elements of T.
func New[T Number](n int) (*Array[T], error) {
	if n < 0 {
		return nil, fmt.Errorf("offheap: negative length %d", n)
	}
	var zero T
	size := uintptr(n) * unsafe.Sizeof(zero)
	if n > 0 && size/unsafe.Sizeof(zero) != uintptr(n) {
		return nil, fmt.Errorf("offheap: %d elements overflow the address space", n)
	}
	if size < minMapped || !mappingSupported {
		return &Array[T]{S: make([]T, n)}, nil
	}
	raw, err := mapAnon(int(size))
	if err != nil {
		return nil, fmt.Errorf("offheap: mapping %d MB: %w", size>>20, err)
	}
	return &Array[T]{S: unsafe.Slice((*T)(unsafe.Pointer(&raw[0])), n), raw: raw}, nil
}

// Free returns the memory; a nil Array or a second Free does nothing.
func (a *Array[T]) Free() {
	if a == nil {
		return
	}
	a.S = nil
	if a.raw != nil {
		unmap(a.raw)
		a.raw = nil
	}
}

// Mapped reports whether the array lives outside the Go heap.
func (a *Array[T]) Mapped() bool { return a != nil && a.raw != nil }
