package kernels

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/x448/float16"
)

// QWeights is a read-only Rows×Cols matrix stored as integer codes of Bits
// bits with one float32 scale (and, for asymmetric grids, one zero point)
// per group of Group consecutive inputs of a row:
//
//	Ŵ[r][c] = (q[r][c] − zero[r][c/G]) · scale[r][c/G] · InScale[c]
//
// The layout is ttq's packed format (pkg/quant): each row is packed on its
// own, little-endian, in blocks of QBlockCodes(Bits) codes filling
// QBlockBytes(Bits) bytes with the first code in the lowest bits, and is
// padded to a whole block (QRowBytes). InScale is the per-input scaling
// that AWQ and TTQ fold into the activations: the kernels multiply x by it,
// which is the same as scaling the columns of Ŵ.
type QWeights struct {
	Bits int
	// Group is the number of inputs sharing a scale; ≤ 0 or > Cols means
	// one group per row. The last group of a row is shorter when Group does
	// not divide Cols.
	Group      int
	Rows, Cols int
	Packed     []byte    // Rows × QRowBytes(Bits, Cols)
	Scales     []float32 // Rows × NumGroups()
	// Scales16, when not nil, holds Scales again as IEEE half-precision
	// bits, each exactly the float32 beside it (the format's scales were
	// rounded to half precision). The int8-activation kernel for 8-bit
	// codes reads these instead: at groups of 32 they are 2 bytes in 36 of
	// what a decode step streams from memory (llama.cpp's Q8_0 stores its
	// scales so too).
	Scales16 []uint16
	// Zeros holds the zero point of each group (Rows × NumGroups()), at
	// most 2^Bits − 1; nil means a symmetric grid, whose zero point is
	// 2^(Bits−1).
	Zeros   []uint8
	InScale []float32 // nil, or Cols multipliers of the inputs
}

// qBlocks is the packing table: a block of codes[b] codes of b bits fills
// bytes[b] bytes exactly, so that no code straddles a block.
var qBlocks = [9]struct{ codes, bytes int }{
	2: {4, 1}, 3: {8, 3}, 4: {2, 1}, 5: {8, 5}, 6: {4, 3}, 7: {8, 7}, 8: {1, 1},
}

// QBlockCodes is the number of codes in one packed block of bits-bit codes.
func QBlockCodes(bits int) int { return qBlocks[bits].codes }

// QBlockBytes is the size in bytes of one packed block of bits-bit codes.
func QBlockBytes(bits int) int { return qBlocks[bits].bytes }

// QRowBytes is the packed size of a row of n codes of bits bits.
func QRowBytes(bits, n int) int {
	b := qBlocks[bits]
	return (n + b.codes - 1) / b.codes * b.bytes
}

// GroupSize is the number of inputs per group (the last one may be
// shorter).
func (w QWeights) GroupSize() int {
	if w.Group <= 0 || w.Group > w.Cols {
		return max(w.Cols, 1)
	}
	return w.Group
}

// NumGroups is the number of groups per row, a ragged last one included.
func (w QWeights) NumGroups() int {
	g := w.GroupSize()
	return (w.Cols + g - 1) / g
}

// symZero is the zero point of a symmetric grid.
func symZero(bits int) uint8 { return uint8(1 << (bits - 1)) }

// zeroPoints returns the zero points and their row stride: the stored ones,
// or for a symmetric grid one shared read-only row of the constant
// 2^(bits−1) with stride 0, so that decode calls allocate nothing.
func (w QWeights) zeroPoints() ([]byte, int) {
	ng := w.NumGroups()
	if w.Zeros != nil {
		return w.Zeros, ng
	}
	return symZeroRow(w.Bits, ng), 0
}

// symZeroRows caches, per bit width, the longest symmetric zero-point row
// asked for so far. Concurrent callers may both build a row; either is
// correct, since the contents depend only on the width.
var symZeroRows [9]atomic.Pointer[[]byte]

func symZeroRow(bits, n int) []byte {
	if p := symZeroRows[bits].Load(); p != nil && len(*p) >= n {
		return (*p)[:n]
	}
	row := bytes.Repeat([]byte{symZero(bits)}, n)
	symZeroRows[bits].Store(&row)
	return row
}

// Validate checks the slices against the shape and the zero points against
// the bit width.
func (w QWeights) Validate() error {
	if err := w.checkShape(); err != nil {
		return err
	}
	maxq := uint8(1<<w.Bits - 1)
	for _, z := range w.Zeros {
		if z > maxq {
			return errors.New("kernels: zero point exceeds the largest code")
		}
	}
	for i, h := range w.Scales16 {
		if f := float16.Frombits(h).Float32(); math.Float32bits(f) != math.Float32bits(w.Scales[i]) {
			return fmt.Errorf("kernels: half-precision scale %d is %g, its float32 %g", i, f, w.Scales[i])
		}
	}
	return nil
}

// checkShape is Validate without the scan of the zero points, which the
// products run on every call: a zero point out of range gives wrong
// numbers but reads no memory out of bounds.
func (w QWeights) checkShape() error {
	if w.Bits < 2 || w.Bits > 8 {
		return fmt.Errorf("kernels: %d-bit codes (want 2 to 8)", w.Bits)
	}
	if w.Rows < 0 || w.Cols < 0 {
		return fmt.Errorf("kernels: negative shape %d×%d", w.Rows, w.Cols)
	}
	ng := w.NumGroups()
	switch {
	case len(w.Packed) != w.Rows*QRowBytes(w.Bits, w.Cols):
		return fmt.Errorf("kernels: %d packed bytes, want %d", len(w.Packed), w.Rows*QRowBytes(w.Bits, w.Cols))
	case len(w.Scales) != w.Rows*ng:
		return fmt.Errorf("kernels: %d scales, want %d", len(w.Scales), w.Rows*ng)
	case w.Zeros != nil && len(w.Zeros) != w.Rows*ng:
		return fmt.Errorf("kernels: %d zero points, want %d", len(w.Zeros), w.Rows*ng)
	case w.Scales16 != nil && len(w.Scales16) != len(w.Scales):
		return fmt.Errorf("kernels: %d half-precision scales, want %d", len(w.Scales16), len(w.Scales))
	case w.InScale != nil && len(w.InScale) != w.Cols:
		return fmt.Errorf("kernels: %d input scales, want %d", len(w.InScale), w.Cols)
	}
	return nil
}

// Bytes is the storage the kernels stream per product: codes, scales and
// zero points (what bounds the matrix-vector product).
func (w QWeights) Bytes() int { return len(w.Packed) + 4*len(w.Scales) + len(w.Zeros) }
