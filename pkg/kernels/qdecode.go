package kernels

// The quantized kernels read codes a chunk at a time: a whole number of
// packed blocks that the AVX2 kernels widen with a few vector instructions.
// Those instructions leave the codes in an order of their own (for 4-bit
// codes: the low nibbles of eight bytes, then the high nibbles), so instead
// of shuffling every weight, the activations are permuted once per product
// into the same order: Σ_i code[perm[i]]·x[perm[i]] is the dot product
// either way. Codes after the last whole chunk of a row (its tail) keep
// their natural order.
type qChunk struct {
	codes, bytes int
	// perm[i] is the index within the chunk of the code that the kernels
	// see at position i; nil means the natural order.
	perm []uint8
}

var qChunks = [9]qChunk{
	2: {32, 8, permInterleave(8, 4)},
	3: {32, 12, perm3()},
	4: {16, 8, permInterleave(8, 2)},
	5: {8, 5, nil},
	6: {8, 6, nil},
	7: {8, 7, nil},
	8: {16, 16, nil},
}

// permInterleave is the order of codes packed per codes per byte when
// bytes bytes are widened into one lane each and the codes of every lane
// are then taken lowest first: position j*bytes+l holds code j of byte l.
func permInterleave(bytes, per int) []uint8 {
	p := make([]uint8, bytes*per)
	for j := 0; j < per; j++ {
		for l := 0; l < bytes; l++ {
			p[j*bytes+l] = uint8(l*per + j)
		}
	}
	return p
}

// perm3 is the order of a 3-bit chunk, four 24-bit blocks of eight codes:
// the kernel puts the four blocks in lanes 0–3 and again in lanes 4–7, and
// at step s takes code 2s from lanes 0–3 and code 2s+1 from lanes 4–7.
func perm3() []uint8 {
	p := make([]uint8, 32)
	for s := 0; s < 4; s++ {
		for l := 0; l < 8; l++ {
			p[s*8+l] = uint8(8*(l%4) + 2*s + l/4)
		}
	}
	return p
}

// decodeChunk writes the codes of one chunk of bits-bit codes at src to dst
// as float32, in the kernels' order (see qChunk).
func decodeChunk(dst []float32, src []byte, bits int) {
	switch bits {
	case 8:
		src = src[:16]
		for i, b := range src {
			dst[i] = float32(b)
		}
	case 4:
		src, dst = src[:8], dst[:16]
		for l, b := range src {
			dst[l] = float32(b & 15)
			dst[8+l] = float32(b >> 4)
		}
	case 2:
		src, dst = src[:8], dst[:32]
		for l, b := range src {
			dst[l] = float32(b & 3)
			dst[8+l] = float32(b >> 2 & 3)
			dst[16+l] = float32(b >> 4 & 3)
			dst[24+l] = float32(b >> 6)
		}
	case 3:
		src, dst = src[:12], dst[:32]
		for l := 0; l < 4; l++ {
			v := uint32(src[3*l]) | uint32(src[3*l+1])<<8 | uint32(src[3*l+2])<<16
			for s := 0; s < 4; s++ {
				dst[s*8+l] = float32(v >> (6 * s) & 7)
				dst[s*8+4+l] = float32(v >> (6*s + 3) & 7)
			}
		}
	default:
		// 5, 6 and 7 bits: one 8-code block, natural order.
		c := qChunks[bits]
		var acc uint64
		for i, b := range src[:c.bytes] {
			acc |= uint64(b) << (8 * i)
		}
		mask := uint64(1)<<bits - 1
		for i := range dst[:c.codes] {
			dst[i] = float32(acc >> (i * bits) & mask)
		}
	}
}

// qCode returns code c of a packed row, reading the block that holds it.
func qCode(row []byte, bits, c int) uint8 {
	b := qBlocks[bits]
	off := c / b.codes * b.bytes
	var acc uint64
	for i, v := range row[off : off+b.bytes] {
		acc |= uint64(v) << (8 * i)
	}
	return uint8(acc >> (c % b.codes * bits) & (1<<bits - 1))
}

// permuteRow writes x in the order of chunk ch: whole chunks permuted, the
// tail copied.
func permuteRow(dst, x []float32, ch qChunk) {
	full := len(x) - len(x)%ch.codes
	if ch.perm == nil {
		copy(dst, x)
		return
	}
	for c0 := 0; c0 < full; c0 += ch.codes {
		d, s := dst[c0:c0+ch.codes], x[c0:c0+ch.codes]
		for i, p := range ch.perm {
			d[i] = s[p]
		}
	}
	copy(dst[full:len(x)], x[full:])
}

// qChunk4x32 is the chunk of the AVX-512 matrix-vector kernel for 4-bit
// codes: 16 bytes widened into the 16 lanes of one register, so the even
// codes (low nibbles) come first, then the odd ones.
var qChunk4x32 = qChunk{32, 16, permInterleave(16, 2)}

// qGemvChunk is the chunk the matrix-vector product of w runs on: the wide
// AVX-512 one where the CPU has it and every group boundary falls on it,
// else the chunk of w's width.
func qGemvChunk(w QWeights) qChunk {
	if useAVX512 && w.Bits == 4 && (w.GroupSize()%qChunk4x32.codes == 0 || w.NumGroups() == 1) {
		return qChunk4x32
	}
	return qChunks[w.Bits]
}

// decodeChunkIn is decodeChunk for chunk ch, which may be wider than the
// chunk of the width (qChunk4x32).
func decodeChunkIn(dst []float32, src []byte, bits int, ch qChunk) {
	if ch.codes == qChunks[bits].codes {
		decodeChunk(dst, src, bits)
		return
	}
	for i, p := range ch.perm {
		dst[i] = float32(qCode(src, bits, int(p)))
	}
}
