package tokenizer

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// addedToken is one entry of tokenizer.json "added_tokens".
type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

func (a *addedToken) isNormalized() bool {
	if a.Normalized != nil {
		return *a.Normalized
	}
	return !a.Special // AddedToken::from(content, special) default
}

// addedMatcher finds added tokens leftmost-longest, without overlaps, like
// the aho-corasick automaton of huggingface/tokenizers' AddedVocabulary.
type addedMatcher struct {
	byFirst map[byte][]matchEntry // longest pattern first
}

type matchEntry struct {
	pat string
	tok *addedToken
}

func newAddedMatcher(entries []matchEntry) *addedMatcher {
	m := &addedMatcher{byFirst: map[byte][]matchEntry{}}
	for _, e := range entries {
		if e.pat == "" {
			continue
		}
		m.byFirst[e.pat[0]] = append(m.byFirst[e.pat[0]], e)
	}
	for _, l := range m.byFirst {
		sort.SliceStable(l, func(i, j int) bool { return len(l[i].pat) > len(l[j].pat) })
	}
	return m
}

// segment is a slice of the input: either an added token (tok != nil) or
// text still to be tokenized.
type segment struct {
	text    string
	tok     *addedToken
	atStart bool
}

func (m *addedMatcher) empty() bool { return m == nil || len(m.byFirst) == 0 }

// split implements AddedVocabulary::find_matches on s.
func (m *addedMatcher) split(s string, atStart bool) []segment {
	if m.empty() || s == "" {
		return []segment{{text: s, atStart: atStart}}
	}
	var out []segment
	startOffset := 0
	for i := 0; i < len(s); {
		cands := m.byFirst[s[i]]
		var hit *matchEntry
		for k := range cands {
			if strings.HasPrefix(s[i:], cands[k].pat) {
				hit = &cands[k]
				break
			}
		}
		if hit == nil {
			i++
			continue
		}
		start, stop := i, i+len(hit.pat)
		i = stop // the automaton resumes after the match whatever happens to it
		tok := hit.tok
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if start < startOffset {
			continue // overlaps whitespace an rstrip already took
		}
		if tok.LStrip {
			start = max(len(strings.TrimRightFunc(s[:start], unicode.IsSpace)), startOffset)
		}
		if tok.RStrip {
			stop += len(s[stop:]) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
		}
		if start > startOffset {
			out = append(out, segment{text: s[startOffset:start], atStart: atStart && startOffset == 0})
		}
		out = append(out, segment{text: s[start:stop], tok: tok})
		startOffset = stop
		if i < stop {
			i = stop
		}
	}
	if startOffset < len(s) {
		out = append(out, segment{text: s[startOffset:], atStart: atStart && startOffset == 0})
	}
	return out
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) }

func endsWithWord(s string) bool {
	r, sz := utf8.DecodeLastRuneInString(s)
	return sz > 0 && isWordRune(r)
}

func startsWithWord(s string) bool {
	r, sz := utf8.DecodeRuneInString(s)
	return sz > 0 && isWordRune(r)
}
