package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// decoder turns token strings into text pieces (decode_chain). Pieces may
// hold raw, possibly invalid UTF-8 bytes (ByteLevel output); the caller makes
// the final string valid, which lets the stream decoder hold back a split
// character. cont is true when the tokens continue text already produced, so
// start-of-text rules (Strip's leading cut, Metaspace's first token) are off.
type decoder interface {
	decodeChain(toks []string, cont bool) []string
	name() string
}

type decSequence []decoder

func (d decSequence) decodeChain(toks []string, cont bool) []string {
	for _, x := range d {
		toks = x.decodeChain(toks, cont)
	}
	return toks
}

func (d decSequence) name() string {
	names := make([]string, len(d))
	for i, x := range d {
		names[i] = x.name()
	}
	return "Sequence[" + strings.Join(names, ",") + "]"
}

type decByteLevel struct{}

func (decByteLevel) decodeChain(toks []string, _ bool) []string {
	var b []byte
	for _, t := range toks {
		b = byteLevelDecodeToken(t, b)
	}
	return []string{string(b)}
}
func (decByteLevel) name() string { return "ByteLevel" }

type decReplace struct{ r replacer }

func (d decReplace) decodeChain(toks []string, _ bool) []string {
	for i, t := range toks {
		toks[i] = d.r.replace(t)
	}
	return toks
}
func (decReplace) name() string { return "Replace" }

// decByteFallback turns runs of <0xHH> tokens into their bytes; a run that is
// not valid UTF-8 becomes one U+FFFD per byte.
type decByteFallback struct{}

func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	var v byte
	for _, c := range []byte(t[3:5]) {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= c - '0'
		case c >= 'a' && c <= 'f':
			v |= c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v |= c - 'A' + 10
		default:
			return 0, false
		}
	}
	return v, true
}

func (decByteFallback) decodeChain(toks []string, _ bool) []string {
	out := make([]string, 0, len(toks))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, t := range toks {
		if b, ok := parseByteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}
func (decByteFallback) name() string { return "ByteFallback" }

type decFuse struct{}

func (decFuse) decodeChain(toks []string, _ bool) []string {
	return []string{strings.Join(toks, "")}
}
func (decFuse) name() string { return "Fuse" }

// decStrip removes up to start leading and stop trailing copies of one rune
// from every token. afterJoin is set when an earlier decoder of the sequence
// joined all tokens into one, so the leading cut only concerns the start of
// the text.
type decStrip struct {
	content     rune
	start, stop int
	afterJoin   bool
}

func (d decStrip) decodeChain(toks []string, cont bool) []string {
	for i, t := range toks {
		if !cont || i > 0 || !d.afterJoin {
			for k := 0; k < d.start; k++ {
				r, sz := utf8.DecodeRuneInString(t)
				if sz == 0 || r != d.content {
					break
				}
				t = t[sz:]
			}
		}
		for k := 0; k < d.stop; k++ {
			r, sz := utf8.DecodeLastRuneInString(t)
			if sz == 0 || r != d.content {
				break
			}
			t = t[:len(t)-sz]
		}
		toks[i] = t
	}
	return toks
}
func (decStrip) name() string { return "Strip" }

// decMetaspace maps the replacement back to spaces; in the first token
// (unless prepend_scheme is "never") replacements are dropped instead.
type decMetaspace struct {
	repl  rune
	first bool
}

func (d decMetaspace) decodeChain(toks []string, cont bool) []string {
	for i, t := range toks {
		drop := i == 0 && d.first && !cont
		var sb strings.Builder
		for _, r := range t {
			switch {
			case r != d.repl:
				sb.WriteRune(r)
			case !drop:
				sb.WriteByte(' ')
			}
		}
		toks[i] = sb.String()
	}
	return toks
}
func (decMetaspace) name() string { return "Metaspace" }

func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("tokenizer: decoder: %w", err)
	}
	switch c.Type {
	case "Sequence":
		var v struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: decoder Sequence: %w", err)
		}
		var seq decSequence
		for _, r := range v.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, err
			}
			if d != nil {
				seq = append(seq, d)
			}
		}
		joined := false
		for i, d := range seq {
			switch x := d.(type) {
			case decFuse, decByteLevel:
				joined = true
			case decStrip:
				x.afterJoin = joined
				seq[i] = x
			}
		}
		return seq, nil
	case "ByteLevel":
		return decByteLevel{}, nil
	case "ByteFallback":
		return decByteFallback{}, nil
	case "Fuse":
		return decFuse{}, nil
	case "Replace":
		var v struct {
			Pattern json.RawMessage `json:"pattern"`
			Content string          `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: decoder Replace: %w", err)
		}
		r, err := newReplacer(v.Pattern, v.Content)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: decoder %w", err)
		}
		return decReplace{r}, nil
	case "Strip":
		var v struct {
			Content string `json:"content"`
			Start   int    `json:"start"`
			Stop    int    `json:"stop"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: decoder Strip: %w", err)
		}
		if utf8.RuneCountInString(v.Content) != 1 || v.Start < 0 || v.Stop < 0 {
			return nil, fmt.Errorf("tokenizer: decoder Strip: need one content character and non-negative start/stop")
		}
		r, _ := utf8.DecodeRuneInString(v.Content)
		return decStrip{content: r, start: v.Start, stop: v.Stop}, nil
	case "Metaspace":
		ms, err := parseMetaspace(raw)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: decoder Metaspace: %w", err)
		}
		r, _ := utf8.DecodeRuneInString(ms.repl)
		return decMetaspace{repl: r, first: ms.scheme != "never"}, nil
	}
	return nil, fmt.Errorf("tokenizer: unsupported decoder type %q", c.Type)
}
