package pretok

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/ttqproject/ttq/internal/shareddata"
)

func split(t *testing.T, pattern, s string) []string {
	t.Helper()
	r, err := Compile(pattern)
	if err != nil {
		t.Fatalf("Compile(%q): %v", pattern, err)
	}
	var out []string
	for _, m := range r.FindAllIndex(s) {
		out = append(out, s[m[0]:m[1]])
	}
	return out
}

// The expected splits below are derived by hand from backtracking semantics
// (alternatives tried in order, greedy quantifiers giving back one rune at a
// time); the derivation for the less obvious ones is in the comment.
func TestHandDerivedSplits(t *testing.T) {
	cases := []struct {
		name, pattern, in string
		want              []string
	}{
		// FORMATS.md §4.8, also checked there against HF tokenizers.
		{"formats-4.8", Llama3Pattern, "Hello  world's 12345\n\n  x",
			[]string{"Hello", " ", " world", "'s", " ", "123", "45", "\n\n", " ", " x"}},
		// GPT-2 has no \s*[\r\n]+, so `\s+(?!\S)` takes "\n\n " and leaves
		// " " for " x"; digits join the preceding space.
		{"gpt2-same-text", GPT2Pattern, "Hello  world's 12345\n\n  x",
			[]string{"Hello", " ", " world", "'s", " 12345", "\n\n ", " x"}},
		{"qwen2-digits", Qwen2Pattern, "x 12345",
			[]string{"x", " ", "1", "2", "3", "4", "5"}},
		{"llama3-digits", Llama3Pattern, "1234567",
			[]string{"123", "456", "7"}},
		// A run that reaches the end of the input is taken whole.
		{"trailing-run", Llama3Pattern, "a  ", []string{"a", "  "}},
		{"trailing-run-gpt2", GPT2Pattern, "a \t ", []string{"a", " \t "}},
		// U+3000 is White_Space: the run gives back one U+3000, which then
		// serves as the optional non-letter prefix of [^\r\n\p{L}\p{N}]?\p{L}+.
		{"ideographic-space", Llama3Pattern, "a\u3000\u3000b",
			[]string{"a", "\u3000", "\u3000b"}},
		{"nbsp-gpt2", GPT2Pattern, "a\u00a0\u00a0b", []string{"a", "\u00a0", "\u00a0", "b"}},
		// Tabs: Llama-3 lets a tab prefix a word, GPT-2 only a space.
		{"tabs-llama3", Llama3Pattern, "a\t\tb", []string{"a", "\t", "\tb"}},
		{"tabs-gpt2", GPT2Pattern, "a\t\tb", []string{"a", "\t", "\t", "b"}},
		// Single space before a digit: every alternative before `\s+(?!\S)`
		// fails, the lookahead alternative fails (one rune), `\s+` takes it.
		{"spaces-digit", Llama3Pattern, "a   1", []string{"a", "  ", " ", "1"}},
		{"spaces-punct", Llama3Pattern, "a   !", []string{"a", "  ", " !"}},
		// \s*[\r\n]+ backtracks to the last newline of the run.
		{"crlf", Llama3Pattern, "a \r\n b", []string{"a", " \r\n", " b"}},
		{"crlf-gpt2", GPT2Pattern, "a \r\n b", []string{"a", " \r\n", " b"}},
		{"punct-newlines", Llama3Pattern, "x!!\n\ny", []string{"x", "!!\n\n", "y"}},
		{"contractions-upper", Llama3Pattern, "I'M HERE'S", []string{"I", "'M", " HERE", "'S"}},
		{"contractions-upper-gpt2", GPT2Pattern, "I'M", []string{"I", "'", "M"}},
		// Oniguruma's (?i) folds U+017F LATIN SMALL LETTER LONG S to s.
		{"long-s", Llama3Pattern, "'ſ", []string{"'ſ"}},
		{"long-s-gpt2", GPT2Pattern, "'ſ", []string{"'", "ſ"}},
		{"emoji", Llama3Pattern, "👍🏽 ok", []string{"👍🏽", " ok"}},
		{"japanese", Llama3Pattern, "日本語です。", []string{"日本語です", "。"}},
		{"empty", Llama3Pattern, "", nil},
		{"only-spaces", Llama3Pattern, "   ", []string{"   "}},
		// A lookahead alternative with nothing after it: a lone space before
		// a non-space is not matched at all.
		{"lookahead-last", `a|\s+(?!\S)`, "a  b c", []string{"a", " "}},
		{"lookahead-first", `\s+(?!\S)|x`, "  x", []string{" ", "x"}},
		{"no-lookaround", `\p{L}+|\s`, "ab\u3000c", []string{"ab", "\u3000", "c"}},
		{"leading-flag", `(?i)ab|\s+(?!\S)|\s+`, "AB  aB", []string{"AB", " ", " ", "aB"}},
		{"unicode-digit-class", `\d+`, "a١٢3", []string{"١٢3"}},
		// Oniguruma's Unicode classes: \S excludes U+3000 and \v, \w has
		// marks (U+0301) and Pc (_), \D excludes Arabic-Indic digits.
		{"non-space", `\S+`, "a\u3000b\vc", []string{"a", "b", "c"}},
		{"non-space-class", `[\S]+`, "a\u3000b", []string{"a", "b"}},
		{"word", `\w+`, "e\u0301_1 x", []string{"e\u0301_1", "x"}},
		{"word-class", `[\w]+`, "e\u0301_1 x", []string{"e\u0301_1", "x"}},
		{"non-word", `\W+`, "a!? b", []string{"!? "}},
		{"non-digit", `\D+`, "a١b", []string{"a", "b"}},
		{"non-digit-class", `[\D]+`, "a١b", []string{"a", "b"}},
		{"digit-class", `[\d]+`, "a١b", []string{"١"}},
		{"empty-matches", `a*`, "baab", []string{"", "aa", ""}},
	}
	for _, c := range cases {
		got := split(t, c.pattern, c.in)
		if strings.Join(got, "\x00|") != strings.Join(c.want, "\x00|") || len(got) != len(c.want) {
			t.Errorf("%s: split(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	bad := []string{
		`a(?=b)`, `a(?!b)`, `(?<=a)b`, `(?<!a)b`,
		`\s+(?!\S)x|\s+`,        // lookahead not a whole alternative
		`(?:\s+(?!\S)|\s+)`,     // not top level
		`\s+(?!\S)|\s+(?!\S)`,   // twice
		`(a)\1`, `(?<n>a)\k<n>`, // backreferences
		`(?>a)`, `^a`, `a$`, `\bfoo`, `\Afoo`, `a\z`,
		`[[a]]`, `[a&&b]`, `(?m)a`, `a(?i)b`, `(?x)a`, `(?#c)a`,
		`[\W]`, `a++`, `(`, `\`, `\Qa\E`, "\xff",
	}
	for _, p := range bad {
		if r, err := Compile(p); err == nil {
			t.Errorf("Compile(%q) = %v, want error", p, r)
		} else if !strings.HasPrefix(err.Error(), "pretok: ") {
			t.Errorf("Compile(%q) error %q lacks the package prefix", p, err)
		}
	}
	for _, p := range []string{GPT2Pattern, Llama3Pattern, Qwen2Pattern, `(?P<x>a)|(?<y>b)`, `[]a]`, `[^]a]`, `\p{Han}+|\x{3000}`} {
		r, err := Compile(p)
		if err != nil {
			t.Errorf("Compile(%q): %v", p, err)
			continue
		}
		if r.String() != p {
			t.Errorf("String() = %q, want %q", r.String(), p)
		}
	}
}

// checkCover verifies structural invariants: ordered, non-overlapping,
// rune-aligned ranges; with cover, that they tile s exactly (true for the
// three tokenizer patterns, which match every rune).
func checkCover(t *testing.T, s string, ms [][2]int, cover bool) {
	t.Helper()
	prev := 0
	for i, m := range ms {
		if m[0] < prev || m[1] < m[0] || m[1] > len(s) {
			t.Fatalf("match %d %v out of order or bounds (prev end %d, len %d)", i, m, prev, len(s))
		}
		if cover && m[0] != prev {
			t.Fatalf("gap before match %d %v (prev end %d) in %q", i, m, prev, s)
		}
		for _, off := range m {
			if off < len(s) && !utf8.RuneStart(s[off]) && utf8.ValidString(s) {
				t.Fatalf("match %d %v not rune-aligned", i, m)
			}
		}
		prev = m[1]
	}
	if cover && prev != len(s) {
		t.Fatalf("matches end at %d, input has %d bytes", prev, len(s))
	}
}

func largeInput() string {
	parts := []string{
		"The quick brown fox's  jumps\tover 1234567 lazy dogs.\n\n",
		"    func main() {\r\n\t\tfmt.Println(\"héllo, 世界\")  \n}\n",
		"I'LL   be there\u3000\u3000at 09:30 — 👩‍👩‍👧 ok?!  \n",
	}
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		b.WriteString(parts[i%len(parts)])
	}
	return b.String()
}

// A guard against super-linear behaviour, generous enough for a loaded
// 2-core machine; BenchmarkFindAllIndex gives the real figure.
func TestLargeInput(t *testing.T) {
	s := largeInput()
	for _, p := range []string{GPT2Pattern, Llama3Pattern, Qwen2Pattern} {
		r := MustCompile(p)
		start := time.Now()
		ms := r.FindAllIndex(s)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: 1 MiB took %v", p, d)
		}
		checkCover(t, s, ms, true)
	}
}

func BenchmarkFindAllIndex(b *testing.B) {
	s := largeInput()
	for _, c := range []struct{ name, p string }{{"gpt2", GPT2Pattern}, {"llama3", Llama3Pattern}} {
		r := MustCompile(c.p)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				r.FindAllIndex(s)
			}
		})
	}
}

// On real text, FindAllIndex must agree with regexp2 and with one uncut
// search (which isolates mistakes in the cut points), over a prefix of each
// shared corpus.
func TestRealText(t *testing.T) {
	dir := shareddata.Dir(t)
	files := []string{
		"wikitext-2-raw/wiki.test.raw",
		"corpora/wagahaiwa-nekodearu/wagahaiwa_nekodearu.txt",
		"corpora/go-source/go-net-http-src.txt",
		"corpora/wikipedia-demo/wiki_demo.txt",
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b[:min(len(b), 64<<10)]), "ſ", "s")
		for _, p := range []string{GPT2Pattern, Llama3Pattern, Qwen2Pattern} {
			r := MustCompile(p)
			got := r.FindAllIndex(s)
			for _, ref := range []struct {
				name string
				ms   [][2]int
			}{
				{"uncut search", r.findAll(s, 0, nil)},
				{"maximal cutting", r.findAllCut(s, 1)},
				{"regexp2", regexp2Split(t, regexp2.MustCompile(p, regexp2.None), s)},
			} {
				if len(got) != len(ref.ms) {
					t.Fatalf("%s on %s: %d matches, %s has %d", p, f, len(got), ref.name, len(ref.ms))
				}
				for i := range got {
					if got[i] != ref.ms[i] {
						t.Fatalf("%s on %s: match %d = %v, %s has %v", p, f, i, got[i], ref.name, ref.ms[i])
					}
				}
			}
			checkCover(t, s, got, true)
		}
	}
}
