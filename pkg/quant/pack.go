package quant

import "github.com/ttqproject/ttq/pkg/kernels"

// packRow packs codes of f.Bits bits into dst (f.RowBytes(len(codes))
// bytes), block by block as the packings table says. Codes must be ≤ MaxQ.
func packRow(dst []byte, codes []uint8, bits int) {
	kernels.PackCodes(dst, codes, bits)
}

// unpackRow decodes len(dst) codes of bits bits from src.
func unpackRow(dst []uint8, src []byte, bits int) {
	n := len(dst)
	switch bits {
	case 8:
		copy(dst, src[:n])
		return
	case 4:
		for i := 0; i+1 < n; i += 2 {
			b := src[i/2]
			dst[i], dst[i+1] = b&0x0f, b>>4
		}
		if n%2 == 1 {
			dst[n-1] = src[n/2] & 0x0f
		}
		return
	}
	p := packings[bits]
	mask := uint64(1)<<bits - 1
	for b, c0 := 0, 0; c0 < n; b, c0 = b+p.BlockBytes, c0+p.ValuesPerBlock {
		var acc uint64
		for k := 0; k < p.BlockBytes; k++ {
			acc |= uint64(src[b+k]) << (8 * k)
		}
		for j := 0; j < p.ValuesPerBlock && c0+j < n; j++ {
			dst[c0+j] = uint8(acc >> (j * bits) & mask)
		}
	}
}
