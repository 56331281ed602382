package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// piece is one pre-token. atStart records whether it begins at offset 0 of
// the original input, which Metaspace's prepend_scheme "first" depends on.
type piece struct {
	text    string
	atStart bool
}

type preTokenizer interface {
	preTokenize(ps []piece) []piece
	name() string
}

type behavior int

const (
	removed behavior = iota
	isolated
	mergedWithPrevious
	mergedWithNext
	contiguous
)

func parseBehavior(s string) (behavior, error) {
	switch s {
	case "Removed":
		return removed, nil
	case "Isolated":
		return isolated, nil
	case "MergedWithPrevious":
		return mergedWithPrevious, nil
	case "MergedWithNext":
		return mergedWithNext, nil
	case "Contiguous":
		return contiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

type span struct {
	s, e  int
	match bool
}

// spansFromMatches covers s with alternating non-match / match spans, as
// Pattern::find_matches does.
func spansFromMatches(s string, ms [][2]int) []span {
	if s == "" {
		return []span{{0, 0, false}}
	}
	out := make([]span, 0, 2*len(ms)+1)
	prev := 0
	for _, m := range ms {
		if m[0] < prev || m[1] < m[0] || m[1] > len(s) {
			continue // defensive: a matcher must return ordered, in-range matches
		}
		if prev != m[0] {
			out = append(out, span{prev, m[0], false})
		}
		out = append(out, span{m[0], m[1], true})
		prev = m[1]
	}
	if prev != len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}

// charMatches returns every rune of s accepted by f as its own match.
func charMatches(s string, f func(rune) bool) [][2]int {
	var ms [][2]int
	for i, r := range s {
		if f(r) {
			ms = append(ms, [2]int{i, i + utf8.RuneLen(r)})
		}
	}
	return ms
}

func literalMatches(s, lit string) [][2]int {
	if lit == "" {
		return nil
	}
	var ms [][2]int
	for off := 0; ; {
		i := strings.Index(s[off:], lit)
		if i < 0 {
			return ms
		}
		ms = append(ms, [2]int{off + i, off + i + len(lit)})
		off += i + len(lit)
	}
}

// applyBehavior mirrors NormalizedString::split: it returns the spans that
// are kept, merged according to b.
func applyBehavior(spans []span, b behavior, invert bool) []span {
	if invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}
	var acc []span
	switch b {
	case removed:
		for _, sp := range spans {
			if !sp.match {
				acc = append(acc, sp)
			}
		}
	case isolated:
		acc = spans
	case mergedWithPrevious:
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(acc) > 0 {
				acc[len(acc)-1].e = sp.e
			} else {
				acc = append(acc, sp)
			}
			prevMatch = sp.match
		}
	case mergedWithNext:
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(acc) > 0 {
				acc[len(acc)-1].s = sp.s
			} else {
				acc = append(acc, sp)
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(acc)-1; i < j; i, j = i+1, j-1 {
			acc[i], acc[j] = acc[j], acc[i]
		}
	case contiguous:
		prevMatch := false
		for _, sp := range spans {
			if sp.match == prevMatch && len(acc) > 0 {
				acc[len(acc)-1].e = sp.e
			} else {
				acc = append(acc, sp)
			}
			prevMatch = sp.match
		}
	}
	return acc
}

// splitPieces splits every piece with find, dropping empty results.
func splitPieces(ps []piece, find func(string) [][2]int, b behavior, invert bool) []piece {
	out := make([]piece, 0, len(ps))
	for _, p := range ps {
		for _, sp := range applyBehavior(spansFromMatches(p.text, find(p.text)), b, invert) {
			if sp.e > sp.s {
				out = append(out, piece{p.text[sp.s:sp.e], p.atStart && sp.s == 0})
			}
		}
	}
	return out
}

type preSequence []preTokenizer

func (s preSequence) preTokenize(ps []piece) []piece {
	for _, p := range s {
		ps = p.preTokenize(ps)
	}
	return ps
}

func (s preSequence) name() string {
	names := make([]string, len(s))
	for i, x := range s {
		names[i] = x.name()
	}
	return "Sequence[" + strings.Join(names, ",") + "]"
}

type preSplit struct {
	literal string
	re      matcher
	b       behavior
	invert  bool
}

func (p *preSplit) find(s string) [][2]int {
	if p.re != nil {
		return p.re.FindAllIndex(s)
	}
	return literalMatches(s, p.literal)
}

func (p *preSplit) preTokenize(ps []piece) []piece { return splitPieces(ps, p.find, p.b, p.invert) }
func (p *preSplit) name() string                   { return "Split" }

type preByteLevel struct {
	addPrefixSpace bool
	re             matcher // nil when use_regex is false
}

func (p *preByteLevel) preTokenize(ps []piece) []piece {
	if p.addPrefixSpace {
		for i := range ps {
			if ps[i].text != "" && !strings.HasPrefix(ps[i].text, " ") {
				ps[i].text = " " + ps[i].text
			}
		}
	}
	if p.re != nil {
		ps = splitPieces(ps, p.re.FindAllIndex, isolated, false)
	}
	for i := range ps {
		ps[i].text = byteLevelEncode(ps[i].text)
	}
	return ps
}
func (p *preByteLevel) name() string { return "ByteLevel" }

type preMetaspace struct {
	repl   string
	scheme string // "always", "first", "never"
	split  bool
}

func (p *preMetaspace) preTokenize(ps []piece) []piece {
	for i := range ps {
		t := strings.ReplaceAll(ps[i].text, " ", p.repl)
		if t != "" && !strings.HasPrefix(t, p.repl) &&
			(p.scheme == "always" || (p.scheme == "first" && ps[i].atStart)) {
			t = p.repl + t
		}
		ps[i].text = t
	}
	if !p.split {
		return ps
	}
	return splitPieces(ps, func(s string) [][2]int { return literalMatches(s, p.repl) }, mergedWithNext, false)
}
func (p *preMetaspace) name() string { return "Metaspace" }

// preFunc splits on single runes accepted by a predicate.
type preFunc struct {
	kind string
	f    func(rune) bool
	b    behavior
}

func (p *preFunc) preTokenize(ps []piece) []piece {
	return splitPieces(ps, func(s string) [][2]int { return charMatches(s, p.f) }, p.b, false)
}
func (p *preFunc) name() string { return p.kind }

// preWhitespace keeps the matches of \w+|[^\w\s]+ (tokenizers' Whitespace).
type preWhitespace struct{ re matcher }

func (p *preWhitespace) preTokenize(ps []piece) []piece {
	return splitPieces(ps, p.re.FindAllIndex, removed, true)
}
func (p *preWhitespace) name() string { return "Whitespace" }

func isPunct(r rune) bool { return unicode.IsPunct(r) || (r < 128 && unicode.IsSymbol(r)) }

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("tokenizer: pre_tokenizer: %w", err)
	}
	switch c.Type {
	case "Sequence":
		var v struct {
			Pre []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Sequence: %w", err)
		}
		var seq preSequence
		for _, r := range v.Pre {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "Split":
		var v struct {
			Pattern  pattern `json:"pattern"`
			Behavior string  `json:"behavior"`
			Invert   bool    `json:"invert"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Split: %w", err)
		}
		b, err := parseBehavior(v.Behavior)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Split: %w", err)
		}
		lit, re, err := v.Pattern.compile()
		if err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Split: %w", err)
		}
		return &preSplit{literal: lit, re: re, b: b, invert: v.Invert}, nil
	case "ByteLevel":
		v := struct {
			AddPrefixSpace bool `json:"add_prefix_space"`
			UseRegex       bool `json:"use_regex"`
		}{UseRegex: true}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer ByteLevel: %w", err)
		}
		p := &preByteLevel{addPrefixSpace: v.AddPrefixSpace}
		if v.UseRegex {
			re, err := compileRegex(gpt2Pattern)
			if err != nil {
				return nil, fmt.Errorf("tokenizer: pre_tokenizer ByteLevel: %w", err)
			}
			p.re = re
		}
		return p, nil
	case "Metaspace":
		ms, err := parseMetaspace(raw)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Metaspace: %w", err)
		}
		return ms, nil
	case "Digits":
		var v struct {
			Individual bool `json:"individual_digits"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Digits: %w", err)
		}
		b := contiguous
		if v.Individual {
			b = isolated
		}
		return &preFunc{kind: "Digits", f: unicode.IsNumber, b: b}, nil
	case "Punctuation":
		v := struct {
			Behavior string `json:"behavior"`
		}{Behavior: "Isolated"}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Punctuation: %w", err)
		}
		b, err := parseBehavior(v.Behavior)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Punctuation: %w", err)
		}
		return &preFunc{kind: "Punctuation", f: isPunct, b: b}, nil
	case "WhitespaceSplit":
		return &preFunc{kind: "WhitespaceSplit", f: unicode.IsSpace, b: removed}, nil
	case "Whitespace":
		re, err := compileRegex(`\w+|[^\w\s]+`)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: pre_tokenizer Whitespace: %w", err)
		}
		return &preWhitespace{re}, nil
	}
	return nil, fmt.Errorf("tokenizer: unsupported pre_tokenizer type %q", c.Type)
}

// parseMetaspace reads both spellings: prepend_scheme (tokenizers ≥ 0.14) and
// the older add_prefix_space bool.
func parseMetaspace(raw json.RawMessage) (*preMetaspace, error) {
	var v struct {
		Replacement    *string `json:"replacement"`
		StrRep         *string `json:"str_rep"`
		PrependScheme  *string `json:"prepend_scheme"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		Split          *bool   `json:"split"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	p := &preMetaspace{repl: "▁", scheme: "always", split: true}
	switch {
	case v.Replacement != nil:
		p.repl = *v.Replacement
	case v.StrRep != nil:
		p.repl = *v.StrRep
	}
	if utf8.RuneCountInString(p.repl) != 1 {
		return nil, fmt.Errorf("replacement %q must be one character", p.repl)
	}
	if v.AddPrefixSpace != nil && !*v.AddPrefixSpace {
		p.scheme = "never"
	}
	if v.PrependScheme != nil {
		switch *v.PrependScheme {
		case "always", "first", "never":
			p.scheme = *v.PrependScheme
		default:
			return nil, fmt.Errorf("unknown prepend_scheme %q", *v.PrependScheme)
		}
	}
	if v.Split != nil {
		p.split = *v.Split
	}
	return p, nil
}
