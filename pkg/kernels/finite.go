package kernels

import (
	"encoding/binary"
	"math"
	"sync/atomic"
)

// Lane masks for FirstNonFinite: a value is NaN or ±Inf exactly when all of
// its exponent bits are set. exp holds the exponent bits of every lane of a
// 64-bit word, low the lane's bits below the sign, sign the sign bits.
type finiteLanes struct{ exp, low, sign uint64 }

var lanesOf = [...]finiteLanes{
	ElemF32:  {0x7f800000_7f800000, 0x7fffffff_7fffffff, 0x80000000_80000000},
	ElemF16:  {0x7c007c00_7c007c00, 0x7fff7fff_7fff7fff, 0x80008000_80008000},
	ElemBF16: {0x7f807f80_7f807f80, 0x7fff7fff_7fff7fff, 0x80008000_80008000},
}

// hasNonFinite reports whether some lane of w has all exponent bits set.
// v = (w & exp) ^ exp is zero in exactly those lanes and nonzero lanes stay
// below the sign bit, so adding low sets a lane's sign bit unless the lane
// was zero, without carrying into the next lane.
func (l finiteLanes) hasNonFinite(w uint64) bool {
	v := (w & l.exp) ^ l.exp
	return ^(v+l.low)&l.sign != 0
}

// FirstNonFinite returns the index of the first NaN or ±Inf among the
// len(src)/e.Size() little-endian elements of type e in src, or -1 when every
// element is finite. It reads eight bytes at a time and large inputs on
// several goroutines, so checking a whole checkpoint costs about one pass at
// memory bandwidth.
func FirstNonFinite(src []byte, e Elem) int {
	size := e.Size()
	if size == 0 {
		panic("kernels: FirstNonFinite unknown element type")
	}
	n := len(src) / size
	const grain = 1 << 18 // elements per task
	if n < 2*grain || Threads() == 1 {
		return firstNonFinite(src[:n*size], e, 0)
	}
	// Words are tested in parallel; the smallest bad index wins.
	var first atomic.Int64
	first.Store(math.MaxInt64)
	ParallelFor(n, grain, func(lo, hi int) {
		if int64(lo) > first.Load() {
			return
		}
		if i := firstNonFinite(src[lo*size:hi*size], e, lo); i >= 0 {
			for {
				cur := first.Load()
				if int64(i) >= cur || first.CompareAndSwap(cur, int64(i)) {
					break
				}
			}
		}
	})
	if f := first.Load(); f != math.MaxInt64 {
		return int(f)
	}
	return -1
}

// firstNonFinite is the serial scan of FirstNonFinite; base is added to the
// returned index.
func firstNonFinite(src []byte, e Elem, base int) int {
	l := lanesOf[e]
	size := e.Size()
	i := 0
	for ; i+32 <= len(src); i += 32 {
		b := src[i : i+32 : i+32]
		w0 := binary.LittleEndian.Uint64(b[0:])
		w1 := binary.LittleEndian.Uint64(b[8:])
		w2 := binary.LittleEndian.Uint64(b[16:])
		w3 := binary.LittleEndian.Uint64(b[24:])
		if l.hasNonFinite(w0) || l.hasNonFinite(w1) || l.hasNonFinite(w2) || l.hasNonFinite(w3) {
			break // the scalar loop below finds the element
		}
	}
	for ; i+size <= len(src); i += size {
		var bits, exp uint64
		switch e {
		case ElemF32:
			bits, exp = uint64(binary.LittleEndian.Uint32(src[i:])), 0x7f800000
		case ElemF16:
			bits, exp = uint64(binary.LittleEndian.Uint16(src[i:])), 0x7c00
		default:
			bits, exp = uint64(binary.LittleEndian.Uint16(src[i:])), 0x7f80
		}
		if bits&exp == exp {
			return base + i/size
		}
	}
	return -1
}

// FirstNonFiniteF32 returns the index of the first NaN or ±Inf in x, or -1.
func FirstNonFiniteF32(x []float32) int {
	for i, v := range x {
		if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
			return i
		}
	}
	return -1
}
