package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"
)

// SentencePiece piece types (sentencepiece_model.proto).
const (
	spNormal      = 1
	spUnknown     = 2
	spControl     = 3
	spUserDefined = 4
	spUnused      = 5
	spByte        = 6
)

type spPiece struct {
	piece string
	score float32
	typ   int
}

// spModel is the part of a SentencePiece ModelProto the converter needs.
type spModel struct {
	pieces           []spPiece
	modelType        int // 1 UNIGRAM (the proto default), 2 BPE, 3 WORD, 4 CHAR
	byteFallback     bool
	unkID            int
	bosID, eosID     int
	normName         string
	hasCharsmap      bool
	addDummyPrefix   bool
	removeExtraSpace bool
}

// protoReader walks protobuf wire format: enough for ModelProto without a
// protobuf dependency.
type protoReader struct {
	b   []byte
	err error
}

func (r *protoReader) varint() uint64 {
	var v uint64
	for i := 0; i < 10; i++ {
		if len(r.b) == 0 {
			r.err = errors.New("truncated varint")
			return 0
		}
		c := r.b[0]
		r.b = r.b[1:]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v
		}
	}
	r.err = errors.New("varint longer than 10 bytes")
	return 0
}

// next returns the next field number, wire type and, for length-delimited
// and fixed-size fields, the payload; for varints the value.
func (r *protoReader) next() (field int, wire int, payload []byte, val uint64, ok bool) {
	if r.err != nil || len(r.b) == 0 {
		return 0, 0, nil, 0, false
	}
	key := r.varint()
	if r.err != nil {
		return 0, 0, nil, 0, false
	}
	field, wire = int(key>>3), int(key&7)
	if field == 0 {
		r.err = errors.New("field number 0")
		return 0, 0, nil, 0, false
	}
	take := func(n uint64) []byte {
		if n > uint64(len(r.b)) {
			r.err = fmt.Errorf("field %d: length %d exceeds the %d bytes left", field, n, len(r.b))
			return nil
		}
		p := r.b[:n]
		r.b = r.b[n:]
		return p
	}
	switch wire {
	case 0:
		val = r.varint()
	case 1:
		payload = take(8)
	case 2:
		n := r.varint()
		if r.err == nil {
			payload = take(n)
		}
	case 5:
		payload = take(4)
	default:
		r.err = fmt.Errorf("field %d: unsupported wire type %d", field, wire)
	}
	if r.err != nil {
		return 0, 0, nil, 0, false
	}
	return field, wire, payload, val, true
}

func parseSPModel(data []byte) (*spModel, error) {
	m := &spModel{modelType: 1, unkID: 0, bosID: 1, eosID: 2, addDummyPrefix: true, removeExtraSpace: true, normName: "identity"}
	r := &protoReader{b: data}
	wantWire := func(f, got, want int) error {
		if got != want {
			return fmt.Errorf("field %d has wire type %d, want %d", f, got, want)
		}
		return nil
	}
	for {
		f, w, p, _, ok := r.next()
		if !ok {
			break
		}
		switch f {
		case 1:
			if err := wantWire(f, w, 2); err != nil {
				return nil, err
			}
			pc := spPiece{typ: spNormal}
			pr := &protoReader{b: p}
			for {
				f2, w2, p2, v2, ok := pr.next()
				if !ok {
					break
				}
				switch {
				case f2 == 1 && w2 == 2:
					pc.piece = string(p2)
				case f2 == 2 && w2 == 5:
					pc.score = math.Float32frombits(binary.LittleEndian.Uint32(p2))
				case f2 == 3 && w2 == 0:
					pc.typ = int(v2)
				}
			}
			if pr.err != nil {
				return nil, fmt.Errorf("piece %d: %w", len(m.pieces), pr.err)
			}
			m.pieces = append(m.pieces, pc)
		case 2:
			if err := wantWire(f, w, 2); err != nil {
				return nil, err
			}
			tr := &protoReader{b: p}
			for {
				f2, w2, _, v2, ok := tr.next()
				if !ok {
					break
				}
				if w2 != 0 {
					continue
				}
				switch f2 {
				case 3:
					m.modelType = int(v2)
				case 35:
					m.byteFallback = v2 != 0
				case 40:
					m.unkID = int(int32(v2))
				case 41:
					m.bosID = int(int32(v2))
				case 42:
					m.eosID = int(int32(v2))
				}
			}
			if tr.err != nil {
				return nil, fmt.Errorf("trainer_spec: %w", tr.err)
			}
		case 3:
			if err := wantWire(f, w, 2); err != nil {
				return nil, err
			}
			nr := &protoReader{b: p}
			for {
				f2, w2, p2, v2, ok := nr.next()
				if !ok {
					break
				}
				switch {
				case f2 == 1 && w2 == 2:
					m.normName = string(p2)
				case f2 == 2 && w2 == 2:
					m.hasCharsmap = len(p2) > 0
				case f2 == 3 && w2 == 0:
					m.addDummyPrefix = v2 != 0
				case f2 == 4 && w2 == 0:
					m.removeExtraSpace = v2 != 0
				}
			}
			if nr.err != nil {
				return nil, fmt.Errorf("normalizer_spec: %w", nr.err)
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return m, nil
}

// ConvertSentencePiece converts a SentencePiece BPE ModelProto (.model) into
// tokenizer.json the way transformers' LlamaConverter writes the legacy
// export: Prepend("▁") + Replace(" "→"▁") normalizer, BPE over the pieces
// with merges derived from the scores, byte fallback from the trainer spec,
// and a decoder that undoes it. remove_extra_whitespaces is not applied
// (llama.cpp and llama2.c do not collapse whitespace either); the choice is
// recorded in tokenizer_config.json.
func ConvertSentencePiece(model []byte) (Files, error) {
	m, err := parseSPModel(model)
	if err != nil {
		return Files{}, fmt.Errorf("tokenizer: SentencePiece model: %w", err)
	}
	if len(m.pieces) == 0 {
		return Files{}, errors.New("tokenizer: SentencePiece model has no pieces")
	}
	switch m.modelType {
	case 2:
	case 1:
		return Files{}, errors.New("tokenizer: SentencePiece model type UNIGRAM is not supported (BPE only)")
	default:
		return Files{}, fmt.Errorf("tokenizer: SentencePiece model type %d is not supported (BPE only)", m.modelType)
	}
	if m.hasCharsmap && m.normName != "identity" {
		return Files{}, fmt.Errorf("tokenizer: SentencePiece normalizer %q (precompiled charsmap) is not supported", m.normName)
	}
	return convertSP(m, "sentencepiece")
}

// ConvertLlama2cBin converts a llama2.c tokenizer.bin (int32 max token
// length, then per id: float32 score, int32 length, bytes) into the same
// tokenizer.json as the SentencePiece model it was exported from.
func ConvertLlama2cBin(bin []byte) (Files, error) {
	if len(bin) < 4 {
		return Files{}, errors.New("tokenizer: llama2.c tokenizer.bin is shorter than its header")
	}
	maxLen := int32(binary.LittleEndian.Uint32(bin))
	if maxLen <= 0 {
		return Files{}, fmt.Errorf("tokenizer: llama2.c tokenizer.bin: max_token_length %d", maxLen)
	}
	m := &spModel{modelType: 2, unkID: 0, bosID: 1, eosID: 2, addDummyPrefix: true, removeExtraSpace: true, normName: "identity"}
	rest := bin[4:]
	for len(rest) > 0 {
		if len(rest) < 8 {
			return Files{}, fmt.Errorf("tokenizer: llama2.c tokenizer.bin: token %d truncated", len(m.pieces))
		}
		score := math.Float32frombits(binary.LittleEndian.Uint32(rest))
		n := int32(binary.LittleEndian.Uint32(rest[4:]))
		rest = rest[8:]
		if n < 0 || n > maxLen || int(n) > len(rest) {
			return Files{}, fmt.Errorf("tokenizer: llama2.c tokenizer.bin: token %d has length %d (max %d, %d bytes left)", len(m.pieces), n, maxLen, len(rest))
		}
		raw := string(rest[:n])
		rest = rest[n:]
		id := len(m.pieces)
		pc := spPiece{score: score, typ: spNormal}
		switch {
		case id == m.unkID:
			pc.piece, pc.typ = raw, spUnknown
		case id == m.bosID || id == m.eosID:
			pc.piece, pc.typ = strings.TrimSpace(raw), spControl
		default:
			pc.piece = strings.ReplaceAll(raw, " ", "▁")
			if _, ok := parseByteToken(pc.piece); ok {
				pc.typ = spByte
			}
		}
		if !utf8.ValidString(pc.piece) || pc.piece == "" {
			return Files{}, fmt.Errorf("tokenizer: llama2.c tokenizer.bin: token %d is empty or not UTF-8", id)
		}
		m.pieces = append(m.pieces, pc)
	}
	if len(m.pieces) < 3 {
		return Files{}, errors.New("tokenizer: llama2.c tokenizer.bin has fewer than 3 tokens")
	}
	nBytes := 0
	for _, p := range m.pieces {
		if p.typ == spByte {
			nBytes++
		}
	}
	m.byteFallback = nBytes == 256
	return convertSP(m, "llama2.c")
}

// spMerges derives BPE merges from piece scores like transformers'
// generate_merges: every split of a piece into two pieces, grouped per piece
// in id order and sorted within by (left id, right id), then stably sorted by
// (score, left length, right length) descending, lengths in code points.
func spMerges(pieces []spPiece, vocab map[string]int) [][2]string {
	type mg struct {
		l, r       string
		score      float32
		lenL, lenR int
	}
	var all []mg
	for _, p := range pieces {
		var local []mg
		n := utf8.RuneCountInString(p.piece)
		idx := 0
		for k := 1; k < n; k++ {
			_, sz := utf8.DecodeRuneInString(p.piece[idx:])
			idx += sz
			l, r := p.piece[:idx], p.piece[idx:]
			if _, ok := vocab[l]; !ok {
				continue
			}
			if _, ok := vocab[r]; !ok {
				continue
			}
			local = append(local, mg{l, r, p.score, k, n - k})
		}
		sort.SliceStable(local, func(i, j int) bool {
			a, b := local[i], local[j]
			if vocab[a.l] != vocab[b.l] {
				return vocab[a.l] < vocab[b.l]
			}
			return vocab[a.r] < vocab[b.r]
		})
		all = append(all, local...)
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.score != b.score {
			return a.score > b.score
		}
		if a.lenL != b.lenL {
			return a.lenL > b.lenL
		}
		return a.lenR > b.lenR
	})
	out := make([][2]string, len(all))
	for i, x := range all {
		out[i] = [2]string{x.l, x.r}
	}
	return out
}

func convertSP(m *spModel, source string) (Files, error) {
	vocab := make(map[string]int, len(m.pieces))
	for id, p := range m.pieces {
		if p.piece == "" {
			return Files{}, fmt.Errorf("tokenizer: SentencePiece piece %d is empty", id)
		}
		if prev, dup := vocab[p.piece]; dup {
			return Files{}, fmt.Errorf("tokenizer: SentencePiece pieces %d and %d are both %q", prev, id, p.piece)
		}
		vocab[p.piece] = id
	}
	inRange := func(id int) bool { return id >= 0 && id < len(m.pieces) }
	if !inRange(m.unkID) || m.pieces[m.unkID].typ != spUnknown {
		return Files{}, fmt.Errorf("tokenizer: SentencePiece unk id %d is not an UNKNOWN piece", m.unkID)
	}
	vs, err := vocabSlice(vocab)
	if err != nil {
		return Files{}, err
	}
	unk := m.pieces[m.unkID].piece
	f := &jsonFile{
		Model: jsonModel{
			Type:         "BPE",
			UnkToken:     &unk,
			FuseUnk:      true,
			ByteFallback: m.byteFallback,
			Vocab:        vs,
			Merges:       spMerges(m.pieces, vocab),
		},
	}
	for id, p := range m.pieces {
		if p.typ == spUnknown || p.typ == spControl || p.typ == spUserDefined {
			f.AddedTokens = append(f.AddedTokens, jsonAdded{ID: id, Content: p.piece, Special: p.typ != spUserDefined})
		}
	}
	var norms, decs []any
	if m.addDummyPrefix {
		norms = append(norms, obj{"type": "Prepend", "prepend": "▁"})
	}
	norms = append(norms, obj{"type": "Replace", "pattern": strPattern(" "), "content": "▁"})
	f.Normalizer = obj{"type": "Sequence", "normalizers": norms}
	decs = append(decs, obj{"type": "Replace", "pattern": strPattern("▁"), "content": " "},
		obj{"type": "ByteFallback"}, obj{"type": "Fuse"})
	if m.addDummyPrefix {
		decs = append(decs, obj{"type": "Strip", "content": " ", "start": 1, "stop": 0})
	}
	f.Decoder = obj{"type": "Sequence", "decoders": decs}

	cfg := obj{
		"tokenizer_class":                    "LlamaTokenizerFast",
		"legacy":                             true,
		"add_bos_token":                      false,
		"add_eos_token":                      false,
		"unk_token":                          unk,
		"ttq_source":                         source,
		"ttq_whitespace":                     "kept: SentencePiece remove_extra_whitespaces is not applied (as in llama.cpp and llama2.c)",
		"remove_extra_whitespaces_in_source": m.removeExtraSpace,
	}
	if inRange(m.bosID) && m.pieces[m.bosID].typ == spControl {
		bos := m.pieces[m.bosID].piece
		f.PostProcessor = templateBOS(bos, m.bosID)
		cfg["bos_token"] = bos
		cfg["add_bos_token"] = true
	}
	if inRange(m.eosID) && m.pieces[m.eosID].typ == spControl {
		cfg["eos_token"] = m.pieces[m.eosID].piece
	}
	return finish(f, cfg)
}
