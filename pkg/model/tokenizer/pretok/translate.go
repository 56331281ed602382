package pretok

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// lookaheadAlt is the only lookaround construct Compile accepts, and only as
// a whole top-level alternative: every GPT-2-style pattern ends in
// `\s+(?!\S)|\s+`, and this one alternative can be emulated exactly.
const lookaheadAlt = `\s+(?!\S)`

// wordClass is Oniguruma's Unicode \w (Letter | Mark | Number |
// Connector_Punctuation); Go's \w is ASCII-only.
const wordClass = `\p{L}\p{M}\p{N}\p{Pc}`

// spaceRanges and nonSpaceRanges are class bodies for Unicode White_Space and
// its complement. Oniguruma's \s (0009-000D, 0085, Zs, Zl, Zp) and regexp2's
// (unicode.IsSpace) are exactly White_Space; Go's \s is only [\t\n\f\r ].
var spaceRanges, nonSpaceRanges = whiteSpaceClassBodies()

func whiteSpaceClassBodies() (in, out string) {
	type rng struct{ lo, hi rune }
	var rs []rng
	add := func(lo, hi rune) {
		if n := len(rs); n > 0 && rs[n-1].hi+1 == lo {
			rs[n-1].hi = hi
			return
		}
		rs = append(rs, rng{lo, hi})
	}
	for _, r := range unicode.White_Space.R16 {
		for c := rune(r.Lo); c <= rune(r.Hi); c += rune(r.Stride) {
			add(c, c)
		}
	}
	for _, r := range unicode.White_Space.R32 {
		for c := rune(r.Lo); c <= rune(r.Hi); c += rune(r.Stride) {
			add(c, c)
		}
	}
	var b, nb strings.Builder
	write := func(sb *strings.Builder, lo, hi rune) {
		if lo == hi {
			fmt.Fprintf(sb, `\x{%x}`, lo)
		} else {
			fmt.Fprintf(sb, `\x{%x}-\x{%x}`, lo, hi)
		}
	}
	next := rune(0)
	for _, r := range rs {
		write(&b, r.lo, r.hi)
		if r.lo > next {
			write(&nb, next, r.lo-1)
		}
		next = r.hi + 1
	}
	write(&nb, next, unicode.MaxRune)
	return b.String(), nb.String()
}

// parsed is a pattern split at its top-level alternation, each alternative
// rewritten into Go syntax with Oniguruma's Unicode class semantics.
type parsed struct {
	flags     string   // a leading bare flag group such as "(?i)", hoisted
	alts      []string // Go syntax, one per top-level alternative
	lookahead int      // index in alts of `\s+(?!\S)` (its entry is empty), or -1
}

// translate rewrites an Oniguruma/regexp2-style pattern into Go syntax. It
// rejects constructs whose meaning Go cannot reproduce (lookaround other than
// the top-level `\s+(?!\S)`, backreferences, atomic groups, anchors, nested
// classes), and leaves everything else to Go's parser, whose errors are
// already precise.
func translate(pattern string) (parsed, error) {
	p := parsed{lookahead: -1}
	if !utf8.ValidString(pattern) {
		return p, fmt.Errorf("pretok: pattern is not valid UTF-8")
	}
	var (
		out      strings.Builder // current alternative, Go syntax
		raw      int             // byte offset where the current alternative starts
		depth    int
		inClass  bool
		classPos int // bytes consumed since '[' (or "[^")
	)
	endAlt := func(end int) {
		p.alts = append(p.alts, out.String())
		out.Reset()
		raw = end
	}
	i := 0
	if strings.HasPrefix(pattern, "(?i)") {
		p.flags = "(?i)"
		i = len("(?i)")
		raw = i
	}
	for i < len(pattern) {
		c, w := utf8.DecodeRuneInString(pattern[i:])
		if inClass {
			switch c {
			case '\\':
				n, err := classEscape(&out, pattern, i)
				if err != nil {
					return p, err
				}
				i += n
				classPos += n
				continue
			case ']':
				if classPos > 0 {
					inClass = false
				}
			case '[':
				return p, fmt.Errorf("pretok: nested or POSIX character class at offset %d is not supported", i)
			case '&':
				if strings.HasPrefix(pattern[i:], "&&") {
					return p, fmt.Errorf("pretok: class intersection && at offset %d is not supported", i)
				}
			}
			out.WriteString(pattern[i : i+w])
			i += w
			classPos += w
			continue
		}
		switch c {
		case '\\':
			n, err := escape(&out, pattern, i)
			if err != nil {
				return p, err
			}
			i += n
			continue
		case '[':
			inClass = true
			classPos = 0
			out.WriteByte('[')
			i++
			if strings.HasPrefix(pattern[i:], "^") {
				out.WriteByte('^')
				i++
			}
			continue
		case '(':
			if strings.HasPrefix(pattern[i:], "(?!") || strings.HasPrefix(pattern[i:], "(?=") ||
				strings.HasPrefix(pattern[i:], "(?<=") || strings.HasPrefix(pattern[i:], "(?<!") {
				end := i + len(`(?!\S)`)
				if depth == 0 && pattern[raw:min(end, len(pattern))] == lookaheadAlt &&
					(end == len(pattern) || pattern[end] == '|') {
					if p.lookahead >= 0 {
						return p, fmt.Errorf("pretok: %s occurs more than once", lookaheadAlt)
					}
					p.lookahead = len(p.alts)
					out.Reset()
					i = end
					continue
				}
				return p, fmt.Errorf("pretok: lookaround at offset %d is not supported (only a whole top-level %s alternative is)", i, lookaheadAlt)
			}
			if strings.HasPrefix(pattern[i:], "(?") {
				n, err := groupFlags(pattern, i)
				if err != nil {
					return p, err
				}
				out.WriteString(pattern[i : i+n])
				i += n
				depth++
				continue
			}
			depth++
		case ')':
			depth--
		case '|':
			if depth == 0 {
				endAlt(i + 1)
				i++
				continue
			}
		case '^', '$':
			return p, fmt.Errorf("pretok: anchor %q at offset %d is not supported", c, i)
		}
		out.WriteString(pattern[i : i+w])
		i += w
	}
	endAlt(len(pattern))
	return p, nil
}

// groupFlags validates the head of a "(?" group and returns its length. Only
// the i flag is accepted: Oniguruma's m means Go's s, and x has no Go
// equivalent, so silently passing them through would change the meaning.
func groupFlags(pattern string, i int) (int, error) {
	rest := pattern[i+2:]
	switch {
	case strings.HasPrefix(rest, ":"):
		return 3, nil
	case strings.HasPrefix(rest, "P<"), strings.HasPrefix(rest, "<"):
		return 2, nil // named capture; Go parses the name
	case strings.HasPrefix(rest, ">"):
		return 0, fmt.Errorf("pretok: atomic group at offset %d is not supported", i)
	case strings.HasPrefix(rest, "#"):
		return 0, fmt.Errorf("pretok: comment group at offset %d is not supported", i)
	}
	j := 0
	for j < len(rest) && (rest[j] == 'i' || rest[j] == '-') {
		j++
	}
	if j < len(rest) && rest[j] == ':' && j > 0 {
		return 2 + j + 1, nil
	}
	if j < len(rest) && rest[j] == ')' && j > 0 {
		return 0, fmt.Errorf("pretok: flag group at offset %d must be scoped (?i:...) or lead the pattern", i)
	}
	return 0, fmt.Errorf("pretok: unsupported group syntax at offset %d", i)
}

// escape translates the escape at pattern[i] (outside a class) and returns
// how many bytes it consumed.
func escape(out *strings.Builder, pattern string, i int) (int, error) {
	if i+1 >= len(pattern) {
		return 0, fmt.Errorf("pretok: trailing backslash")
	}
	e, w := utf8.DecodeRuneInString(pattern[i+1:])
	switch e {
	case 's':
		out.WriteString("[" + spaceRanges + "]")
	case 'S':
		out.WriteString("[^" + spaceRanges + "]")
	case 'd':
		out.WriteString(`\p{Nd}`)
	case 'D':
		out.WriteString(`\P{Nd}`)
	case 'w':
		out.WriteString("[" + wordClass + "]")
	case 'W':
		out.WriteString("[^" + wordClass + "]")
	case 'b', 'B', 'A', 'z', 'Z', 'G':
		return 0, fmt.Errorf("pretok: assertion \\%c at offset %d is not supported", e, i)
	case '1', '2', '3', '4', '5', '6', '7', '8', '9', 'k', 'g':
		return 0, fmt.Errorf("pretok: backreference or subexpression call \\%c at offset %d is not supported", e, i)
	case 'Q', 'h', 'H', 'K', 'R', 'X':
		return 0, fmt.Errorf("pretok: escape \\%c at offset %d is not supported", e, i)
	default:
		out.WriteString(pattern[i : i+1+w])
	}
	return 1 + w, nil
}

// classEscape is escape inside a character class.
func classEscape(out *strings.Builder, pattern string, i int) (int, error) {
	if i+1 >= len(pattern) {
		return 0, fmt.Errorf("pretok: trailing backslash")
	}
	e, w := utf8.DecodeRuneInString(pattern[i+1:])
	switch e {
	case 's':
		out.WriteString(spaceRanges)
	case 'S':
		out.WriteString(nonSpaceRanges)
	case 'd':
		out.WriteString(`\p{Nd}`)
	case 'D':
		out.WriteString(`\P{Nd}`)
	case 'w':
		out.WriteString(wordClass)
	case 'W', 'h', 'H':
		return 0, fmt.Errorf("pretok: escape \\%c inside a class at offset %d is not supported", e, i)
	default:
		out.WriteString(pattern[i : i+1+w])
	}
	return 1 + w, nil
}
