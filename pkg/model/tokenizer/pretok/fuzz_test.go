package pretok

import (
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

// oraclePatterns are compared against regexp2, a backtracking engine with
// real lookahead. regexp2's \s is unicode.IsSpace (White_Space), as is
// Oniguruma's, so no restriction is needed there; its (?i) does not fold
// U+017F to s (Oniguruma and Go do), so that rune is replaced in the input.
var oraclePatterns = []string{
	GPT2Pattern, Llama3Pattern, Qwen2Pattern,
	`\s+(?!\S)|\s+`,
	`a|\s+(?!\S)`,
	`\s+(?!\S)|\p{L}+| \p{N}`,
}

// regexp2Split returns regexp2's matches as byte ranges (regexp2 indexes the
// rune slice []rune(s), where each invalid byte is one U+FFFD, exactly as
// ranging over s decodes it).
func regexp2Split(t *testing.T, re *regexp2.Regexp, s string) [][2]int {
	t.Helper()
	var off []int
	for i := range s {
		off = append(off, i)
	}
	off = append(off, len(s))
	var out [][2]int
	m, err := re.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		out = append(out, [2]int{off[m.Index], off[m.Index+m.Length]})
	}
	if err != nil {
		t.Fatalf("regexp2: %v", err)
	}
	return out
}

func FuzzAgainstRegexp2(f *testing.F) {
	for _, s := range []string{
		"Hello  world's 12345\n\n  x", "a  ", "a \r\n b", "\r\n\r\n  \r\n", " \t\n x",
		"I'M HERE'S they'RE WE'VE I'D YOU'LL", "a\u3000\u3000b", "\u00a0\u00a0x", "  1  !  \n",
		"日本語の  テキスト。", "👩‍👩‍👧 👍🏽", "e\u0301\u0301 x", "\v\f\u0085\u2028\u2029 z", "\xff\xfe  \xc3",
	} {
		f.Add(s)
	}
	res := make([]*regexp2.Regexp, len(oraclePatterns))
	ours := make([]*Regexp, len(oraclePatterns))
	for i, p := range oraclePatterns {
		res[i] = regexp2.MustCompile(p, regexp2.None)
		ours[i] = MustCompile(p)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ReplaceAll(s, "ſ", "s")
		for i := range oraclePatterns {
			want := regexp2Split(t, res[i], s)
			got := ours[i].FindAllIndex(s)
			if len(got) != len(want) {
				t.Fatalf("%s on %q:\n got %v\nwant %v", oraclePatterns[i], s, got, want)
			}
			for j := range got {
				if got[j] != want[j] {
					t.Fatalf("%s on %q: match %d got %v %q, want %v %q", oraclePatterns[i], s, j,
						got[j], s[got[j][0]:got[j][1]], want[j], s[want[j][0]:want[j][1]])
				}
			}
			if i < 3 {
				checkCover(t, s, got, true)
				// Cutting at every cut point must not change anything.
				cut := ours[i].findAllCut(s, 1)
				if !slices.Equal(cut, want) {
					t.Fatalf("%s on %q with maximal cutting:\n got %v\nwant %v", oraclePatterns[i], s, cut, want)
				}
			}
		}
	})
}

// FuzzCompile feeds arbitrary patterns to the translator: it must return an
// error or a Regexp whose matches are well formed, and never panic.
func FuzzCompile(f *testing.F) {
	for _, p := range []string{GPT2Pattern, Llama3Pattern, `(?i)a|\s+(?!\S)`, `[^\s\S]`, `[\s\d\w]+`, `(?<n>x)`, `\p{^L}`} {
		f.Add(p, "ab  c\n1")
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		r, err := Compile(pattern)
		if err != nil {
			return
		}
		checkCover(t, s, r.FindAllIndex(s), false)
	})
}
