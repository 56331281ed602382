package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

type normalizer interface {
	normalize(s string) string
	name() string
}

type normSequence []normalizer

func (n normSequence) normalize(s string) string {
	for _, x := range n {
		s = x.normalize(s)
	}
	return s
}

func (n normSequence) name() string {
	names := make([]string, len(n))
	for i, x := range n {
		names[i] = x.name()
	}
	return "Sequence[" + strings.Join(names, ",") + "]"
}

type normUnicode struct {
	form norm.Form
	kind string
}

func (n normUnicode) normalize(s string) string { return n.form.String(s) }
func (n normUnicode) name() string              { return n.kind }

type normLowercase struct{}

func (normLowercase) normalize(s string) string { return strings.ToLower(s) }
func (normLowercase) name() string              { return "Lowercase" }

// normPrepend adds its text before a non-empty input only (an empty
// NormalizedString ignores prepend in huggingface/tokenizers).
type normPrepend struct{ text string }

func (n normPrepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return n.text + s
}
func (normPrepend) name() string { return "Prepend" }

type normReplace struct{ r replacer }

func (n normReplace) normalize(s string) string { return n.r.replace(s) }
func (normReplace) name() string                { return "Replace" }

type normStrip struct{ left, right bool }

func (n normStrip) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}
func (normStrip) name() string { return "Strip" }

// replacer replaces every non-overlapping match of a literal or a regex by a
// literal (huggingface/tokenizers Replace never expands groups).
type replacer struct {
	literal string
	re      matcher
	content string
}

func (r replacer) replace(s string) string {
	if r.re == nil {
		if r.literal == "" {
			return s
		}
		return strings.ReplaceAll(s, r.literal, r.content)
	}
	ms := r.re.FindAllIndex(s)
	if len(ms) == 0 {
		return s
	}
	var sb strings.Builder
	prev := 0
	for _, m := range ms {
		sb.WriteString(s[prev:m[0]])
		sb.WriteString(r.content)
		prev = m[1]
	}
	sb.WriteString(s[prev:])
	return sb.String()
}

// pattern is the {"String": …} | {"Regex": …} object of tokenizer.json.
type pattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func (p pattern) compile() (literal string, re matcher, err error) {
	switch {
	case p.String != nil:
		return *p.String, nil, nil
	case p.Regex != nil:
		re, err := compileRegex(*p.Regex)
		return "", re, err
	}
	return "", nil, fmt.Errorf("pattern has neither String nor Regex")
}

func newReplacer(raw json.RawMessage, content string) (replacer, error) {
	var p pattern
	if err := json.Unmarshal(raw, &p); err != nil {
		return replacer{}, fmt.Errorf("Replace pattern: %w", err)
	}
	lit, re, err := p.compile()
	if err != nil {
		return replacer{}, fmt.Errorf("Replace pattern: %w", err)
	}
	return replacer{literal: lit, re: re, content: content}, nil
}

type component struct {
	Type string `json:"type"`
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("tokenizer: normalizer: %w", err)
	}
	switch c.Type {
	case "Sequence":
		var v struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: normalizer Sequence: %w", err)
		}
		var seq normSequence
		for _, r := range v.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "NFC":
		return normUnicode{norm.NFC, "NFC"}, nil
	case "NFD":
		return normUnicode{norm.NFD, "NFD"}, nil
	case "NFKC":
		return normUnicode{norm.NFKC, "NFKC"}, nil
	case "NFKD":
		return normUnicode{norm.NFKD, "NFKD"}, nil
	case "Lowercase":
		return normLowercase{}, nil
	case "Prepend":
		var v struct {
			Prepend string `json:"prepend"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: normalizer Prepend: %w", err)
		}
		return normPrepend{v.Prepend}, nil
	case "Replace":
		var v struct {
			Pattern json.RawMessage `json:"pattern"`
			Content string          `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: normalizer Replace: %w", err)
		}
		r, err := newReplacer(v.Pattern, v.Content)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: normalizer %w", err)
		}
		return normReplace{r}, nil
	case "Strip":
		var v struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("tokenizer: normalizer Strip: %w", err)
		}
		return normStrip{v.Left, v.Right}, nil
	}
	return nil, fmt.Errorf("tokenizer: unsupported normalizer type %q", c.Type)
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}
