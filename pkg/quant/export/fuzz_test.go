package export

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/tokenizer"
	"github.com/ttqproject/ttq/pkg/quant"
)

// FuzzVocabFromTokenizerJSON: any tokenizer.json is converted or refused
// with an error, never a panic, and an accepted vocabulary is consistent.
func FuzzVocabFromTokenizerJSON(f *testing.F) {
	tj, _ := demo.ReadFile("tokenizer.json")
	f.Add(tj, 512)
	f.Add(byteLevelTokenizer(tokenizer.Llama3Pattern, false), 256)
	f.Add(byteLevelTokenizer("", true), 300)
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Sequence"}]}}`), 3)
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":-1}}}`), 4)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		if n < 0 || n > 1<<16 {
			return
		}
		v, err := VocabFromTokenizerJSON(data, nil, n)
		if err != nil {
			return
		}
		if len(v.Tokens) != n || len(v.Types) != n || (v.Scores != nil && len(v.Scores) != n) {
			t.Fatalf("vocabulary of %d tokens, %d types, %d scores for n = %d", len(v.Tokens), len(v.Types), len(v.Scores), n)
		}
	})
}

// FuzzDecodeRow: decoding any bytes never panics, and encoding any finite
// row round-trips within half a quantization step.
func FuzzDecodeRow(f *testing.F) {
	f.Add(make([]byte, 34*2), uint8(8))
	f.Add([]byte{0x00, 0x3c, 0xff, 0x10}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, typ uint8) {
		g := GGMLType(typ)
		if g != TypeF32 && g != TypeF16 && g != TypeQ4_0 && g != TypeQ8_0 {
			return
		}
		n := len(data) / g.TypeSize() * g.BlockSize()
		dst := make([]float32, n)
		if err := DecodeRow(dst, data, g); err != nil {
			t.Fatal(err)
		}
		// Reuse the bytes as a float32 row to encode.
		row := make([]float32, len(data)/4/QK*QK)
		for i := range row {
			v := math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || math.Abs(float64(v)) > 6e4 {
				v = 0
			}
			row[i] = v
		}
		buf := make([]byte, g.RowBytes(len(row)))
		if err := EncodeRow(buf, row, g); err != nil {
			t.Fatal(err)
		}
		back := make([]float32, len(row))
		if err := DecodeRow(back, buf, g); err != nil {
			t.Fatal(err)
		}
		if g.Quantized() && !withinBlockError(back, row, g) {
			t.Fatalf("%s round trip of %v gave %v", g, row, back)
		}
	})
}

// FuzzAWQPacking: UnpackAWQ inverts PackAWQ for any codes and zeros, and
// never panics on inconsistent sizes.
func FuzzAWQPacking(f *testing.F) {
	f.Add([]byte{1, 2, 3, 250}, uint8(1), uint8(1))
	f.Fuzz(func(t *testing.T, seed []byte, groups, blocks uint8) {
		in, out := AWQGroup*(int(groups%3)+1), 8*(int(blocks%4)+1)
		if _, _, _, err := UnpackAWQ(seed, seed, seed, in, out); err == nil && len(seed) != 4*in*out/8 {
			t.Fatal("inconsistent sizes accepted")
		}
		if len(seed) == 0 {
			return
		}
		q := quant.NewQLinear(awqFormat(), out, in)
		ng := in / AWQGroup
		codes := make([]uint8, in)
		for r := 0; r < out; r++ {
			for i := range codes {
				codes[i] = seed[(r*in+i)%len(seed)] & 15
			}
			sc := make([]float32, ng)
			zs := make([]int32, ng)
			for g := range sc {
				sc[g] = float32(g+1) / 8
				zs[g] = int32(seed[(r+g)%len(seed)] >> 4)
			}
			q.SetRow(r, codes, sc, zs)
		}
		qw, qz, sc := PackAWQ(q)
		gc, gz, gs, err := UnpackAWQ(qw, qz, sc, in, out)
		if err != nil {
			t.Fatal(err)
		}
		row := make([]uint8, in)
		for r := 0; r < out; r++ {
			q.Codes(row, r)
			for i := range row {
				if gc[r*in+i] != row[i] {
					t.Fatalf("code [%d][%d]: %d, want %d", r, i, gc[r*in+i], row[i])
				}
			}
			for g := 0; g < ng; g++ {
				if int32(gz[r*ng+g]) != zeroOf(q, r, g) || gs[r*ng+g] != q.Scales[r*ng+g] {
					t.Fatalf("group [%d][%d] differs", r, g)
				}
			}
		}
	})
}
