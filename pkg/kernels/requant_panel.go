package kernels

import (
	"math"

	"github.com/x448/float16"
)

// requantPanelTmp is the scratch, in bytes, of the AVX-512 panel kernel.
const requantPanelTmp = 2048

// requantPanel re-quantizes the rows (1 ≤ rows ≤ nr) of one packed block
// of weights — panel[p*nr+r] = W[j+r][pc+p] for p < kc, packPanel's layout,
// kc a multiple of 128 — scaled by d[p], to RequantRow4G32's format: row
// r's kc/2 code bytes at codes[r*rb:], its kc/32 scales and zero points at
// scales[r*ng:] and zeros[r*ng:]. It returns false, with those outputs
// unspecified, when some w·d is not finite. tmp is the AVX-512 kernel's
// scratch (requantPanelTmp bytes).
func requantPanel(codes []byte, rb int, scales []float32, zeros []uint8, ng int, panel, d []float32, rows, kc int, f16 bool, tmp []byte) bool {
	if rows < 1 || rows > nr || kc <= 0 || kc%128 != 0 || len(panel) < kc*nr || len(d) < kc ||
		len(codes) < (rows-1)*rb+kc/2 || len(scales) < (rows-1)*ng+kc/32 || len(zeros) < (rows-1)*ng+kc/32 {
		panic("kernels: requantPanel out of range")
	}
	if useAVX512 {
		if len(tmp) < requantPanelTmp {
			panic("kernels: requantPanel scratch too short")
		}
		return requantPanel4G32AVX512(&panel[0], &d[0], kc, &codes[0], rb, &scales[0], &zeros[0], ng, rows, f16, &tmp[0])
	}
	return requantPanelGeneric(codes, rb, scales, zeros, ng, panel, d, rows, kc, f16)
}

// requantPanelGeneric is the pure-Go twin of requantPanel4G32AVX512. Per
// group of 32 inputs: scale = max(hi−lo, 1e-5)/15 (through float16, at
// most 65504, when f16), zero = clamp(−roundEven(lo/scale), 0, 15), codes
// clamp(roundEven(w·d/scale) + zero, 0, 15), two to a byte, low nibble
// first: quantizeRowScaled's minmax grid, in float32.
func requantPanelGeneric(codes []byte, rb int, scales []float32, zeros []uint8, ng int, panel, d []float32, rows, kc int, f16 bool) bool {
	ok := true
	var v [32]float32
	for r := 0; r < rows; r++ {
		for g := 0; g < kc/32; g++ {
			lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
			for i := range v {
				p := g*32 + i
				v[i] = panel[p*nr+r] * d[p]
				if v[i]-v[i] != 0 { // an infinity or a NaN
					ok = false
				}
				lo, hi = min(lo, v[i]), max(hi, v[i])
			}
			s := max(hi-lo, 1e-5) / 15
			if f16 {
				s = min(float16.Fromfloat32(s).Float32(), 65504)
			}
			z := min(max(-roundEven32(lo/s), 0), 15)
			scales[r*ng+g], zeros[r*ng+g] = s, uint8(z)
			for i := 0; i < 32; i += 2 {
				c0 := min(max(roundEven32(v[i]/s)+z, 0), 15)
				c1 := min(max(roundEven32(v[i+1]/s)+z, 0), 15)
				codes[r*rb+g*16+i/2] = uint8(c0) | uint8(c1)<<4
			}
		}
	}
	return ok
}

func roundEven32(v float32) float32 { return float32(math.RoundToEven(float64(v))) }
