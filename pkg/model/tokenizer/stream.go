package tokenizer

// StreamDecoder turns ids into text one at a time. The concatenation of
// everything Add (and finally Flush) returns equals Decode of all ids.
type StreamDecoder struct {
	t       *Tokenizer
	window  []string // tokens since the last clean boundary
	emitted int      // bytes of decodeRaw(window) already returned
	cont    bool     // text has already started: no start-of-text rules
}

// NewStreamDecoder returns a decoder for streaming generation output.
func (t *Tokenizer) NewStreamDecoder() *StreamDecoder { return &StreamDecoder{t: t} }

// Add returns the text completed by id. It holds back an incomplete UTF-8
// sequence and, for decoders with ByteFallback, a run of <0xHH> tokens until
// a following token shows how the run ends.
func (d *StreamDecoder) Add(id int) (string, error) {
	toks, err := d.t.tokens([]int{id})
	if err != nil {
		return "", err
	}
	if len(toks) == 0 {
		return "", nil // skipped special token
	}
	d.window = append(d.window, toks[0])
	if d.t.hasByteFallback() {
		if _, isByte := parseByteToken(toks[0]); isByte {
			return "", nil
		}
	}
	return d.emit(false), nil
}

// Flush returns whatever Add still holds back (an incomplete character ends
// up as U+FFFD, as in Decode).
func (d *StreamDecoder) Flush() string { return d.emit(true) }

func (d *StreamDecoder) emit(final bool) string {
	if len(d.window) == 0 {
		return ""
	}
	raw := d.t.decodeRaw(d.window, d.cont)
	end := len(raw)
	if !final {
		end -= incompleteTail(raw)
	}
	if end < d.emitted {
		end = d.emitted
	}
	out := lossyUTF8(raw[d.emitted:end])
	d.emitted = end
	// Reset only once text has appeared: tokens that decode to nothing so far
	// (a lone "▁" the leading strip removed) still shape what follows.
	if end == len(raw) && len(raw) > 0 {
		d.cont = true
		d.window = d.window[:0]
		d.emitted = 0
	}
	return out
}

func (t *Tokenizer) hasByteFallback() bool {
	var has func(decoder) bool
	has = func(x decoder) bool {
		switch v := x.(type) {
		case decByteFallback:
			return true
		case decSequence:
			for _, y := range v {
				if has(y) {
					return true
				}
			}
		}
		return false
	}
	return t.dec != nil && has(t.dec)
}
