package quant

import (
	"math"

	"github.com/ttqproject/ttq/pkg/kernels"
)

// groupParams fits the scale and zero point of one group of weights on the
// format's grid (METHODS §1). Arithmetic is float32, in the order of the
// reference implementations, with round-half-to-even as torch.round does,
// so that codes agree with AutoAWQ and GPTQ bit for bit.
func groupParams(w []float32, f Format) (scale float32, zero int32) {
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range w {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	if len(w) == 0 {
		lo, hi = 0, 0
	}
	return rangeParams(lo, hi, f)
}

// rangeParams is groupParams from the group's least and greatest weight.
// The sign of a zero lo or hi does not change its result.
func rangeParams(lo, hi float32, f Format) (scale float32, zero int32) {
	maxq := float32(f.MaxQ())
	switch f.Grid {
	case GridMinMax:
		scale = f.Scale.round(max(hi-lo, 1e-5) / maxq)
		zero = int32(clampF(-roundEven(lo/scale), 0, maxq))
	case GridMinMax0, GridSym:
		lo, hi = min(lo, 0), max(hi, 0)
		if f.Grid == GridSym {
			hi = max(-lo, hi)
			if lo < 0 {
				lo = -hi
			}
		}
		if lo == 0 && hi == 0 {
			lo, hi = -1, 1
		}
		scale = f.Scale.round((hi - lo) / maxq)
		if f.Grid == GridSym {
			zero = int32(f.MaxQ()+1) / 2
		} else {
			// −lo/scale lies in [0, maxq] up to rounding; the clamp only
			// matters when an f16 scale rounded down.
			zero = int32(clampF(roundEven(-lo/scale), 0, maxq))
		}
	default:
		panic("quant: groupParams with invalid grid")
	}
	return scale, zero
}

// code rounds one weight to the grid.
func code(w, scale float32, zero int32, maxq float32) uint8 {
	return uint8(clampF(roundEven(w/scale)+float32(zero), 0, maxq))
}

// dequant maps a code back to a weight: (q − zero)·scale.
func dequant(q uint8, scale float32, zero int32) float32 {
	return float32(int32(q)-zero) * scale
}

func roundEven(x float32) float32 { return float32(math.RoundToEven(float64(x))) }

func clampF(x, lo, hi float32) float32 {
	// A NaN (only from non-finite weights) maps to lo rather than to an
	// undefined integer conversion.
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	if x != x {
		return lo
	}
	return x
}

// quantizeRow fits and rounds one row: codes[c] and one (scale, zero) per
// group of f.GroupSize(len(w)) consecutive inputs.
func quantizeRow(codes []uint8, scales []float32, zeros []int32, w []float32, f Format) {
	quantizeRowScaled(codes, scales, zeros, w, nil, f)
}

// quantizeRowScaled is quantizeRow of w ⊙ d (w is scaled in place; d nil
// means no scaling), with the kernels: vector group ranges, scalar grid
// parameters, vector rounding, all bit for bit what quantizeRowScalar
// computes. A row holding a NaN (non-finite weights) takes the scalar
// path, whose min and max propagate it.
func quantizeRowScaled(codes []uint8, scales []float32, zeros []int32, w, d []float32, f Format) {
	g := f.GroupSize(len(w))
	ng := (len(w) + g - 1) / g
	var buf [2 * 128]float32
	lohi := buf[:]
	if 2*ng > len(buf) {
		lohi = make([]float32, 2*ng)
	}
	lo, hi := lohi[:ng], lohi[ng:2*ng]
	if !kernels.ScaleMinMax(lo, hi, w, d, g) {
		quantizeRowScalar(codes, scales, zeros, w, f)
		return
	}
	for gi := range ng {
		scales[gi], zeros[gi] = rangeParams(lo[gi], hi[gi], f)
	}
	kernels.QuantizeGroups(codes[:len(w)], w, scales, zeros, g, f.MaxQ())
}

// quantizeRowScalar is quantizeRow in scalar code, the reference of the
// kernel path.
func quantizeRowScalar(codes []uint8, scales []float32, zeros []int32, w []float32, f Format) {
	g := f.GroupSize(len(w))
	maxq := float32(f.MaxQ())
	for gi, c0 := 0, 0; c0 < len(w); gi, c0 = gi+1, c0+g {
		c1 := min(c0+g, len(w))
		s, z := groupParams(w[c0:c1], f)
		scales[gi], zeros[gi] = s, z
		for c := c0; c < c1; c++ {
			codes[c] = code(w[c], s, z, maxq)
		}
	}
}
