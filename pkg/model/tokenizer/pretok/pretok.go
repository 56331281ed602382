// Package pretok runs the pre-tokenizer split regexes of byte-level BPE
// tokenizers (GPT-2, Llama-3, Qwen2, ...) with the exact match boundaries that
// Oniguruma (Hugging Face tokenizers) and regexp2 produce, on top of the
// standard library's linear-time regexp.
//
// Every such pattern ends in `\s+(?!\S)|\s+`, and Go's RE2 syntax has no
// lookahead. Compile drops that alternative and FindAllIndex repairs the
// matches it would have produced: under backtracking, `\s+(?!\S)` wins at a
// position only when every earlier alternative fails there, and then it takes
// the whole whitespace run if the run reaches the end of the input, or the run
// minus its last rune if the run has at least two runes (the rune given back
// is then available to a following ` ?\p{L}+`-style alternative); otherwise
// the later alternatives are tried as usual.
//
// The class escapes \s, \S, \d, \D, \w and \W are rewritten to their Unicode
// meaning in Oniguruma: \s is White_Space (as in regexp2; Go's own \s is
// ASCII) and \w is L, M, N and Pc (regexp2 has L, Mn, Nd, Pc, ZWJ and ZWNJ).
// Constructs Go cannot reproduce exactly are rejected by Compile: other
// lookaround, backreferences, atomic groups, anchors and word boundaries,
// nested classes and flags other than i.
//
// Known differences from Oniguruma: Unicode tables are Go's (Unicode 15.0),
// and (?i) uses simple case folding (multi-rune folds such as "ss" against
// "ß" are not applied; single-rune folds such as "ſ" against "s" are, as in
// Oniguruma). Invalid UTF-8 bytes match as U+FFFD, one byte each.
package pretok

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// GPT2Pattern is the pre-tokenizer regex of GPT-2 (and of the ByteLevel
// pre-tokenizer with use_regex, e.g. GPT-NeoX).
const GPT2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

// Llama3Pattern is the Split regex of Llama 3 (meta-llama/llama3
// llama/tokenizer.py and its tokenizer.json).
const Llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// Qwen2Pattern is the Split regex of Qwen2/2.5/3 (transformers'
// tokenization_qwen2.py PRETOKENIZE_REGEX): Llama 3's with single digits.
const Qwen2Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// Regexp is a compiled pre-tokenizer pattern. It is safe for concurrent use.
type Regexp struct {
	expr string
	// re is the pattern without `\s+(?!\S)`. When the pattern had that
	// alternative, it is replaced in place by a capturing `\s+`, whose group
	// index is wsGroup, so that a match tells whether all earlier
	// alternatives failed; wsGroup is 0 otherwise.
	re      *regexp.Regexp
	wsGroup int
	// after matches, anchored, the alternatives that followed the lookahead
	// alternative; nil when there were none.
	after *regexp.Regexp
	// spaceCuts is set for the three tokenizer patterns, for which cutting
	// the input at certain rune boundaries is exact (see nextCut).
	spaceCuts bool
}

// Compile parses a pre-tokenizer pattern written for Oniguruma / regexp2.
func Compile(pattern string) (*Regexp, error) {
	p, err := translate(pattern)
	if err != nil {
		return nil, err
	}
	r := &Regexp{expr: pattern}
	r.spaceCuts = pattern == GPT2Pattern || pattern == Llama3Pattern || pattern == Qwen2Pattern
	if p.lookahead < 0 {
		r.re, err = regexp.Compile(p.flags + strings.Join(p.alts, "|"))
		if err != nil {
			return nil, fmt.Errorf("pretok: %w", err)
		}
		return r, nil
	}
	before, after := p.alts[:p.lookahead], p.alts[p.lookahead+1:]
	var parts []string
	if len(before) > 0 {
		pre, err := regexp.Compile(p.flags + "(?:" + strings.Join(before, "|") + ")")
		if err != nil {
			return nil, fmt.Errorf("pretok: %w", err)
		}
		r.wsGroup = pre.NumSubexp() + 1
		parts = append(parts, "(?:"+strings.Join(before, "|")+")")
	} else {
		r.wsGroup = 1
	}
	parts = append(parts, "(["+spaceRanges+"]+)")
	if len(after) > 0 {
		parts = append(parts, "(?:"+strings.Join(after, "|")+")")
		r.after, err = regexp.Compile(p.flags + "^(?:" + strings.Join(after, "|") + ")")
		if err != nil {
			return nil, fmt.Errorf("pretok: %w", err)
		}
	}
	r.re, err = regexp.Compile(p.flags + strings.Join(parts, "|"))
	if err != nil {
		return nil, fmt.Errorf("pretok: %w", err)
	}
	return r, nil
}

// MustCompile is Compile for patterns known to be valid; it panics otherwise.
func MustCompile(pattern string) *Regexp {
	r, err := Compile(pattern)
	if err != nil {
		panic(err)
	}
	return r
}

// String returns the pattern as given to Compile.
func (r *Regexp) String() string { return r.expr }

// FindAllIndex returns the byte ranges of all successive non-overlapping
// matches in s, leftmost-first. An empty match abutting the previous match is
// skipped, as in Go's regexp and Oniguruma's find iterator.
func (r *Regexp) FindAllIndex(s string) [][2]int {
	if !r.spaceCuts {
		return r.findAll(s, 0, nil)
	}
	return r.findAllCut(s, cutMin)
}

// findAllCut searches pieces of s of at least minLen bytes, cut at the
// points nextCut finds.
func (r *Regexp) findAllCut(s string, minLen int) [][2]int {
	var out [][2]int
	for start := 0; start < len(s); {
		end := nextCut(s, start+minLen)
		out = r.findAll(s[start:end], start, out)
		start = end
	}
	return out
}

// cutMin is the least chunk length FindAllIndex aims for when it cuts the
// input: long enough to amortise a search's setup, short enough for Go's
// backtracker (much cheaper per match than its NFA) to handle the chunk.
const cutMin = 256

// nextCut returns the first cut point at or after i, or len(s). A cut point
// is a rune boundary between runes c and d where
//
//   - d is U+0020 and c is not whitespace, or
//   - c is a letter (\p{L}) and d is not, or
//   - c is a number (\p{N}) and d is not.
//
// It is exact for the three tokenizer patterns: (1) no word of any of their
// alternatives contains such a pair c d, and every partial backtracking path
// consumes a prefix of such a word, so no match attempt that starts before
// the cut consumes d; (2) an attempt that stops at d (a greedy run ending
// there) stops in the same way at the end of the input, and the lookahead of
// `\s+(?!\S)` never peeks at d because c is not whitespace; (3) every rune
// is matched by some alternative, so the matches tile the input and one ends
// at the cut. Hence the matches of the pieces are the matches of the whole.
// Cut points fall on rune starts, where every forward UTF-8 decoder
// resynchronises, so each piece decodes as it does inside s, even when s is
// not valid UTF-8.
func nextCut(s string, i int) int {
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	if i >= len(s) {
		return len(s)
	}
	c, _ := utf8.DecodeLastRuneInString(s[:i])
	for i < len(s) {
		d, w := utf8.DecodeRuneInString(s[i:])
		if d == ' ' && !unicode.Is(unicode.White_Space, c) ||
			unicode.IsLetter(c) && !unicode.IsLetter(d) ||
			unicode.IsNumber(c) && !unicode.IsNumber(d) {
			return i
		}
		c = d
		i += w
	}
	return len(s)
}

// findAll appends the matches in s, shifted by base, to out.
func (r *Regexp) findAll(s string, base int, out [][2]int) [][2]int {
	prevEnd := -1
	for pos := 0; pos <= len(s); {
		// Searching s[pos:] rather than using FindAll keeps each search's cost
		// proportional to the remaining input (Go's backtracker clears a
		// bitmap sized by the whole input on every call) and lets a repaired
		// match restart the search mid-run. Slicing is exact because Compile
		// rejects every context-dependent assertion.
		m := r.re.FindStringSubmatchIndex(s[pos:])
		if m == nil {
			break
		}
		start, end := pos+m[0], pos+m[1]
		if r.wsGroup > 0 && m[2*r.wsGroup] >= 0 {
			// Every alternative before `\s+(?!\S)` failed at start and
			// [start,end) is the maximal whitespace run there.
			_, last := utf8.DecodeLastRuneInString(s[start:end])
			switch {
			case end == len(s):
			case end-start > last:
				end -= last
			default:
				// One whitespace rune before a non-space: the lookahead
				// alternative fails, so the later ones decide.
				var mb []int
				if r.after != nil {
					mb = r.after.FindStringIndex(s[start:])
				}
				if mb == nil {
					_, w := utf8.DecodeRuneInString(s[start:])
					pos = start + w
					continue
				}
				end = start + mb[1]
			}
		}
		accept := true
		if end == pos {
			accept = start != prevEnd
			if pos >= len(s) {
				pos = len(s) + 1
			} else {
				_, w := utf8.DecodeRuneInString(s[pos:])
				pos += w
			}
		} else {
			pos = end
		}
		prevEnd = end
		if accept {
			out = append(out, [2]int{base + start, base + end})
		}
	}
	return out
}
