package tokenizer

import (
	"fmt"

	"github.com/ttqproject/ttq/pkg/model/tokenizer/pretok"
)

// matcher finds non-overlapping matches with Oniguruma semantics (the regex
// engine huggingface/tokenizers uses), lookahead included.
type matcher interface {
	FindAllIndex(s string) [][2]int
}

// gpt2Pattern is the regex ByteLevel{use_regex: true} splits with.
const gpt2Pattern = pretok.GPT2Pattern

func compileRegex(p string) (matcher, error) {
	re, err := pretok.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", p, err)
	}
	return re, nil
}
