package tokenizer

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ttqproject/ttq/internal/shareddata"
)

func readShared(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(shareddata.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTok(t testing.TB, f Files, err error) *Tokenizer {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	tk, err := FromJSON(f.TokenizerJSON, f.TokenizerConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// Converted tokenizers are shared between tests: converting Llama-2 takes a
// noticeable fraction of a second.
var (
	convOnce  sync.Map
	convCache sync.Map
)

func cached(t testing.TB, key string, build func(testing.TB) *Tokenizer) *Tokenizer {
	t.Helper()
	once, _ := convOnce.LoadOrStore(key, &sync.Once{})
	once.(*sync.Once).Do(func() {
		if tk := build(t); tk != nil {
			convCache.Store(key, tk)
		}
	})
	v, ok := convCache.Load(key)
	if !ok {
		t.Skipf("tokenizer %s unavailable", key)
	}
	return v.(*Tokenizer)
}

func llama2Tok(t testing.TB) *Tokenizer {
	return cached(t, "llama2", func(t testing.TB) *Tokenizer {
		f, err := ConvertSentencePiece(readShared(t, "tokenizers/llama2/tokenizer.model"))
		return mustTok(t, f, err)
	})
}

func gpt2Tok(t testing.TB) *Tokenizer {
	return cached(t, "gpt2", func(t testing.TB) *Tokenizer {
		f, err := ConvertGPT2(readShared(t, "tokenizers/gpt2/vocab.json"), readShared(t, "tokenizers/gpt2/merges.txt"))
		return mustTok(t, f, err)
	})
}

func tok512(t testing.TB) *Tokenizer {
	return cached(t, "tok512", func(t testing.TB) *Tokenizer {
		f, err := ConvertSentencePiece(readShared(t, "models/stories260K/tok512.model"))
		return mustTok(t, f, err)
	})
}

type vocabCase struct {
	text string
	ids  []int
}

// llamaCppVectors reads llama.cpp's tokenizer test vectors: .inp cases each
// end with "\n__ggml_vocab_test__\n"; .out has one line of ids per case.
func llamaCppVectors(t *testing.T, name string) []vocabCase {
	inp := string(readShared(t, "tokenizers/llama.cpp-vocab/"+name+".inp"))
	out := string(readShared(t, "tokenizers/llama.cpp-vocab/"+name+".out"))
	texts := strings.Split(inp, "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] == "" {
		texts = texts[:len(texts)-1]
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(texts) != len(lines) {
		t.Fatalf("%s: %d inputs but %d outputs", name, len(texts), len(lines))
	}
	cases := make([]vocabCase, len(texts))
	for i := range texts {
		cases[i].text = texts[i]
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s line %d: %v", name, i+1, err)
			}
			cases[i].ids = append(cases[i].ids, id)
		}
	}
	return cases
}

func checkVectors(t *testing.T, tk *Tokenizer, cases []vocabCase) {
	t.Helper()
	bad := 0
	for i, c := range cases {
		got, err := tk.Encode(c.text, false)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !equalInts(got, c.ids) {
			bad++
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.text, got, c.ids)
		}
	}
	if bad == 0 && len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLlamaCppVectorsLlama2(t *testing.T) {
	checkVectors(t, llama2Tok(t), llamaCppVectors(t, "ggml-vocab-llama-spm.gguf"))
}

func TestLlamaCppVectorsLlama2Bin(t *testing.T) {
	f, err := ConvertLlama2cBin(readShared(t, "tokenizers/llama2/tokenizer.bin"))
	checkVectors(t, mustTok(t, f, err), llamaCppVectors(t, "ggml-vocab-llama-spm.gguf"))
}

func TestLlamaCppVectorsGPT2(t *testing.T) {
	checkVectors(t, gpt2Tok(t), llamaCppVectors(t, "ggml-vocab-gpt-2.gguf"))
}
