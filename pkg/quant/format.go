package quant

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/x448/float16"
)

// Grid is a round-to-nearest convention: how a group's range maps to the
// integer grid (METHODS §1). The conventions change the numbers, so every
// report names the one used.
type Grid uint8

const (
	// GridMinMax is AWQ's (and TTQ's) asymmetric grid over the raw
	// [min, max] of the group, scale clamped at 1e-5/maxq, zero clamped.
	GridMinMax Grid = iota + 1
	// GridMinMax0 is GPTQ's asymmetric grid whose range always includes 0.
	GridMinMax0
	// GridSym is GPTQ's symmetric grid: zero fixed at (maxq+1)/2.
	GridSym
)

var gridNames = map[Grid]string{GridMinMax: "minmax", GridMinMax0: "minmax0", GridSym: "sym"}

func (g Grid) String() string {
	if s, ok := gridNames[g]; ok {
		return s
	}
	return "Grid(" + strconv.Itoa(int(g)) + ")"
}

// ParseGrid accepts "minmax", "minmax0" and "sym".
func ParseGrid(s string) (Grid, error) {
	for g, n := range gridNames {
		if n == s {
			return g, nil
		}
	}
	return 0, fmt.Errorf("quant: unknown grid %q (want minmax, minmax0 or sym)", s)
}

// ScaleType is the element type scales are stored in. Scales are rounded to
// it before any weight is quantized, so the stored values are exactly the
// ones calibration used.
type ScaleType uint8

const (
	ScaleF32 ScaleType = iota + 1
	ScaleF16
)

func (s ScaleType) String() string {
	switch s {
	case ScaleF32:
		return "f32"
	case ScaleF16:
		return "f16"
	}
	return "ScaleType(" + strconv.Itoa(int(s)) + ")"
}

// ParseScaleType accepts "f32" and "f16".
func ParseScaleType(s string) (ScaleType, error) {
	switch s {
	case "f32":
		return ScaleF32, nil
	case "f16":
		return ScaleF16, nil
	}
	return 0, fmt.Errorf("quant: unknown scale type %q (want f32 or f16)", s)
}

// Bytes is the storage size of one scale.
func (s ScaleType) Bytes() int {
	if s == ScaleF16 {
		return 2
	}
	return 4
}

// Ragged says what happens to a matrix whose input width the group size
// does not divide (stories260K's down_proj has 172 inputs).
type Ragged uint8

const (
	// RaggedLastGroup quantizes the remainder as a shorter last group.
	RaggedLastGroup Ragged = iota + 1
	// RaggedError refuses the matrix.
	RaggedError
	// RaggedPerRow quantizes that matrix with one group per row.
	RaggedPerRow
	// RaggedKeep leaves that matrix in full precision.
	RaggedKeep
)

var raggedNames = map[Ragged]string{RaggedLastGroup: "last-group", RaggedError: "error", RaggedPerRow: "per-row", RaggedKeep: "keep"}

func (r Ragged) String() string {
	if s, ok := raggedNames[r]; ok {
		return s
	}
	return "Ragged(" + strconv.Itoa(int(r)) + ")"
}

// ParseRagged accepts "last-group", "error", "per-row" and "keep".
func ParseRagged(s string) (Ragged, error) {
	for r, n := range raggedNames {
		if n == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("quant: unknown ragged policy %q (want last-group, error, per-row or keep)", s)
}

// Format describes how one weight matrix is stored: Bits per weight on a
// Grid, one scale (and, unless symmetric, one zero point) per Group
// consecutive input channels of an output row.
type Format struct {
	Bits int
	// Group is the number of input channels sharing a scale; ≤ 0 means one
	// group per row (per-channel quantization). The last group of a row is
	// shorter when Group does not divide the input width.
	Group int
	Grid  Grid
	Scale ScaleType
}

// packing is one row of the bit-width table: ValuesPerBlock codes of Bits
// bits fill BlockBytes bytes exactly, little-endian, the first code in the
// lowest bits. Rows are padded to whole blocks so that every row starts on
// a byte boundary and decodes block by block.
type packing struct {
	Bits, ValuesPerBlock, BlockBytes int
}

// packings is the format table shared by the packer, QLinear, Save and
// Load: a code of b bits never straddles a block, and a block is at most 8
// bytes (one uint64).
var packings = [9]packing{
	2: {2, 4, 1},
	3: {3, 8, 3},
	4: {4, 2, 1},
	5: {5, 8, 5},
	6: {6, 4, 3},
	7: {7, 8, 7},
	8: {8, 1, 1},
}

// Validate checks that the format is one ttq can store.
func (f Format) Validate() error {
	if f.Bits < 2 || f.Bits > 8 {
		return fmt.Errorf("quant: %d bits: supported 2 to 8", f.Bits)
	}
	if _, ok := gridNames[f.Grid]; !ok {
		return fmt.Errorf("quant: invalid grid %v", f.Grid)
	}
	if f.Scale != ScaleF32 && f.Scale != ScaleF16 {
		return fmt.Errorf("quant: invalid scale type %v", f.Scale)
	}
	return nil
}

// MaxQ is the largest code, 2^Bits − 1.
func (f Format) MaxQ() int { return 1<<f.Bits - 1 }

// GroupSize is the group width used for rows of cols inputs.
func (f Format) GroupSize(cols int) int {
	if f.Group <= 0 || f.Group > cols {
		return max(cols, 1)
	}
	return f.Group
}

// NumGroups is the number of groups per row of cols inputs, counting a
// ragged last group.
func (f Format) NumGroups(cols int) int {
	g := f.GroupSize(cols)
	return (cols + g - 1) / g
}

// Ragged reports whether cols leaves a shorter last group.
func (f Format) Ragged(cols int) bool { return cols%f.GroupSize(cols) != 0 }

// HasZeros reports whether zero points are stored (asymmetric grids).
func (f Format) HasZeros() bool { return f.Grid != GridSym }

// RowBytes is the packed size of one row of n codes.
func (f Format) RowBytes(n int) int {
	p := packings[f.Bits]
	return (n + p.ValuesPerBlock - 1) / p.ValuesPerBlock * p.BlockBytes
}

// StorageBytes is the size of a rows×cols matrix in this format: packed
// codes, scales and packed zero points (no g_idx, bias or input scale).
func (f Format) StorageBytes(rows, cols int) int64 {
	ng := f.NumGroups(cols)
	n := int64(rows) * int64(f.RowBytes(cols))
	n += int64(rows) * int64(ng) * int64(f.Scale.Bytes())
	if f.HasZeros() {
		n += int64(rows) * int64(f.RowBytes(ng))
	}
	return n
}

// EffectiveBits is the storage cost per weight, scales and zeros included
// (4-bit g128 with f16 scales and 4-bit zeros: 4 + 20/128 = 4.156).
func (f Format) EffectiveBits(rows, cols int) float64 {
	if rows == 0 || cols == 0 {
		return 0
	}
	return float64(8*f.StorageBytes(rows, cols)) / (float64(rows) * float64(cols))
}

// String names the format, e.g. "int4-g128-minmax-f16" or
// "int3-perrow-minmax0-f32".
func (f Format) String() string {
	g := "perrow"
	if f.Group > 0 {
		g = "g" + strconv.Itoa(f.Group)
	}
	return fmt.Sprintf("int%d-%s-%s-%s", f.Bits, g, f.Grid, f.Scale)
}

// ParseFormat reads the String form back.
func ParseFormat(s string) (Format, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 4 || !strings.HasPrefix(parts[0], "int") {
		return Format{}, fmt.Errorf("quant: malformed format %q", s)
	}
	var f Format
	var err error
	if f.Bits, err = strconv.Atoi(parts[0][3:]); err != nil {
		return Format{}, fmt.Errorf("quant: malformed format %q", s)
	}
	switch {
	case parts[1] == "perrow":
		f.Group = -1
	case strings.HasPrefix(parts[1], "g"):
		if f.Group, err = strconv.Atoi(parts[1][1:]); err != nil || f.Group <= 0 {
			return Format{}, fmt.Errorf("quant: malformed format %q", s)
		}
	default:
		return Format{}, fmt.Errorf("quant: malformed format %q", s)
	}
	if f.Grid, err = ParseGrid(parts[2]); err != nil {
		return Format{}, err
	}
	if f.Scale, err = ParseScaleType(parts[3]); err != nil {
		return Format{}, err
	}
	return f, f.Validate()
}

// roundScale rounds a scale to its storage type. A scale that would
// underflow f16 becomes the smallest positive f16 so that dequantization
// never divides by zero.
func (s ScaleType) round(v float32) float32 {
	if s != ScaleF16 {
		return v
	}
	h := float16.Fromfloat32(v)
	r := h.Float32()
	switch {
	case r == 0 && v != 0:
		return float16.Frombits(1).Float32()
	case math.IsInf(float64(r), 0):
		return float16.Frombits(0x7bff).Float32() // 65504
	}
	return r
}
