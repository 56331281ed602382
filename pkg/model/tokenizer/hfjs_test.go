package tokenizer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ttqproject/ttq/internal/shareddata"
)

// TestConvertedFilesLoadInHuggingFaceTokenizers pins the tokenizer.json files
// that scripts/golden/tokenizer/check_converted.mjs fed to
// @huggingface/tokenizers: that library loaded our conversions of the Llama-2
// and tok512 SentencePiece models and the Llama-3 tiktoken ranks and encoded
// every sample to the original implementations' ids. Here the converters
// must still write those exact bytes, and our BOS policy must match the
// library's add_special_tokens output.
func TestConvertedFilesLoadInHuggingFaceTokenizers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "tokenizer", "converted-hfjs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Results []struct {
			Name       string `json:"name"`
			SHA256     string `json:"tokenizer_json_sha256"`
			Cases      int    `json:"cases"`
			Agree      int    `json:"agree"`
			HelloWorld []int  `json:"hello_world_with_special_tokens"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	convert := map[string]func() (Files, error){
		"llama2": func() (Files, error) {
			m, err := os.ReadFile(shareddata.Path(t, "tokenizers/llama2/tokenizer.model"))
			if err != nil {
				return Files{}, err
			}
			return ConvertSentencePiece(m)
		},
		"tok512": func() (Files, error) {
			m, err := os.ReadFile(shareddata.Path(t, "models/stories260K/tok512.model"))
			if err != nil {
				return Files{}, err
			}
			return ConvertSentencePiece(m)
		},
		"llama3": func() (Files, error) {
			m, err := os.ReadFile(shareddata.Path(t, "tokenizers/llama3/tokenizer.model"))
			if err != nil {
				return Files{}, err
			}
			return ConvertTiktoken(m, Llama3TiktokenOptions())
		},
	}
	if len(rec.Results) != len(convert) {
		t.Fatalf("record has %d results, want %d", len(rec.Results), len(convert))
	}
	for _, r := range rec.Results {
		t.Run(r.Name, func(t *testing.T) {
			if r.Cases == 0 || r.Agree != r.Cases {
				t.Fatalf("@huggingface/tokenizers agreed on %d/%d cases", r.Agree, r.Cases)
			}
			files, err := convert[r.Name]()
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(files.TokenizerJSON)
			if got := hex.EncodeToString(sum[:]); got != r.SHA256 {
				t.Fatalf("converter output sha256 %s, the file checked in @huggingface/tokenizers was %s: rerun check_converted.mjs", got, r.SHA256)
			}
			tok, err := FromJSON(files.TokenizerJSON, files.TokenizerConfigJSON)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := tok.Encode("Hello world", true)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids, r.HelloWorld) {
				t.Errorf("Encode(\"Hello world\", true) = %v, @huggingface/tokenizers gives %v", ids, r.HelloWorld)
			}
		})
	}
}
