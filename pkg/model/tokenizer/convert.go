package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/ttqproject/ttq/pkg/model/tokenizer/pretok"
)

// ConvertGPT2 converts GPT-2's vocab.json (encoder.json) and merges.txt
// (vocab.bpe) into a byte-level tokenizer.json: GPT-2 regex ByteLevel
// pre-tokenizer, no BOS, <|endoftext|> as a special added token and EOS.
func ConvertGPT2(vocabJSON, merges []byte) (Files, error) {
	var vocab map[string]int
	if err := json.Unmarshal(vocabJSON, &vocab); err != nil {
		return Files{}, fmt.Errorf("tokenizer: vocab.json: %w", err)
	}
	vs, err := vocabSlice(vocab)
	if err != nil {
		return Files{}, fmt.Errorf("tokenizer: vocab.json: %w", err)
	}
	var ms [][2]string
	sc := bufio.NewScanner(bytes.NewReader(merges))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimRight(sc.Text(), "\r")
		if s == "" || (line == 1 && strings.HasPrefix(s, "#version")) {
			continue
		}
		parts := strings.Split(s, " ")
		if len(parts) != 2 {
			return Files{}, fmt.Errorf("tokenizer: merges.txt line %d: %q is not two tokens", line, s)
		}
		ms = append(ms, [2]string{parts[0], parts[1]})
	}
	if err := sc.Err(); err != nil {
		return Files{}, fmt.Errorf("tokenizer: merges.txt: %w", err)
	}
	empty := ""
	f := &jsonFile{
		Model:         jsonModel{Type: "BPE", ContinuingSubwordPrefix: &empty, EndOfWordSuffix: &empty, Vocab: vs, Merges: ms},
		PreTokenizer:  obj{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		PostProcessor: obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		Decoder:       obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
	}
	cfg := obj{"tokenizer_class": "GPT2TokenizerFast", "add_bos_token": false, "ttq_source": "gpt2"}
	const eot = "<|endoftext|>"
	if id, ok := vocab[eot]; ok {
		f.AddedTokens = []jsonAdded{{ID: id, Content: eot, Special: true}}
		cfg["eos_token"] = eot
	}
	return finish(f, cfg)
}

// TiktokenOptions describes what a tiktoken ranks file leaves to code: the
// pre-tokenizer pattern and the special tokens.
type TiktokenOptions struct {
	Pattern string
	Special map[string]int
	BOS     string // added before every sequence when not empty
	EOS     string
}

// Llama3Pattern is Meta Llama 3's pre-tokenizer regex.
const Llama3Pattern = pretok.Llama3Pattern

// Llama3TiktokenOptions returns the pattern and the 256 special tokens
// (128000…128255) of meta-llama/llama3 llama/tokenizer.py.
func Llama3TiktokenOptions() TiktokenOptions {
	names := []string{
		"<|begin_of_text|>",
		"<|end_of_text|>",
		"<|reserved_special_token_0|>",
		"<|reserved_special_token_1|>",
		"<|reserved_special_token_2|>",
		"<|reserved_special_token_3|>",
		"<|start_header_id|>",
		"<|end_header_id|>",
		"<|reserved_special_token_4|>",
		"<|eot_id|>",
	}
	for i := 5; i < 256-5; i++ {
		names = append(names, fmt.Sprintf("<|reserved_special_token_%d|>", i))
	}
	sp := make(map[string]int, len(names))
	for i, n := range names {
		sp[n] = 128000 + i
	}
	return TiktokenOptions{Pattern: Llama3Pattern, Special: sp, BOS: "<|begin_of_text|>", EOS: "<|end_of_text|>"}
}

// ConvertTiktoken converts a tiktoken ranks file (base64 token, space, rank
// per line) into a byte-level tokenizer.json. Each multi-byte token gets the
// one merge that tiktoken's lowest-rank-first process uses to build it, so
// BPE over the merges reproduces tiktoken; ignore_merges is set because
// tiktoken looks whole pre-tokens up first.
func ConvertTiktoken(ranks []byte, opts TiktokenOptions) (Files, error) {
	if opts.Pattern == "" {
		return Files{}, errors.New("tokenizer: tiktoken conversion needs a pre-tokenizer pattern")
	}
	if _, err := compileRegex(opts.Pattern); err != nil {
		return Files{}, fmt.Errorf("tokenizer: tiktoken pattern: %w", err)
	}
	rankOf := map[string]int{}
	var byRank []string
	sc := bufio.NewScanner(bytes.NewReader(ranks))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		b64, rs, ok := strings.Cut(s, " ")
		if !ok {
			return Files{}, fmt.Errorf("tokenizer: tiktoken line %d: want \"base64 rank\"", line)
		}
		tok, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(tok) == 0 {
			return Files{}, fmt.Errorf("tokenizer: tiktoken line %d: bad base64 token", line)
		}
		r, err := strconv.Atoi(rs)
		if err != nil || r < 0 || r > 1<<24 {
			return Files{}, fmt.Errorf("tokenizer: tiktoken line %d: bad rank %q", line, rs)
		}
		if _, dup := rankOf[string(tok)]; dup {
			return Files{}, fmt.Errorf("tokenizer: tiktoken line %d: token repeated", line)
		}
		rankOf[string(tok)] = r
		for len(byRank) <= r {
			byRank = append(byRank, "")
		}
		if byRank[r] != "" {
			return Files{}, fmt.Errorf("tokenizer: tiktoken line %d: rank %d repeated", line, r)
		}
		byRank[r] = string(tok)
	}
	if err := sc.Err(); err != nil {
		return Files{}, fmt.Errorf("tokenizer: tiktoken: %w", err)
	}
	if len(rankOf) == 0 {
		return Files{}, errors.New("tokenizer: tiktoken file has no tokens")
	}
	for b := 0; b < 256; b++ {
		if _, ok := rankOf[string([]byte{byte(b)})]; !ok {
			return Files{}, fmt.Errorf("tokenizer: tiktoken file lacks the single byte 0x%02X", b)
		}
	}
	vocab := make(map[string]int, len(rankOf)+len(opts.Special))
	for tok, r := range rankOf {
		vocab[byteLevelEncode(tok)] = r
	}
	var merges [][2]string
	for _, tok := range byRank {
		if len(tok) < 2 {
			continue
		}
		if l, r, ok := tiktokenLastMerge(tok, rankOf); ok {
			merges = append(merges, [2]string{byteLevelEncode(l), byteLevelEncode(r)})
		}
	}
	f := &jsonFile{
		Model: jsonModel{Type: "BPE", IgnoreMerges: true, Merges: merges},
		PreTokenizer: obj{"type": "Sequence", "pretokenizers": []any{
			obj{"type": "Split", "pattern": obj{"Regex": opts.Pattern}, "behavior": "Isolated", "invert": false},
			obj{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		PostProcessor: obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
		Decoder:       obj{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
	}
	names := make([]string, 0, len(opts.Special))
	for n := range opts.Special {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return opts.Special[names[i]] < opts.Special[names[j]] })
	for _, n := range names {
		id := opts.Special[n]
		if id < len(byRank) && byRank[id] != "" {
			return Files{}, fmt.Errorf("tokenizer: special token %q id %d collides with a ranked token", n, id)
		}
		f.AddedTokens = append(f.AddedTokens, jsonAdded{ID: id, Content: n, Special: true})
	}
	vs, err := vocabSlice(vocab)
	if err != nil {
		return Files{}, err
	}
	f.Model.Vocab = vs
	cfg := obj{"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": false, "ttq_source": "tiktoken"}
	if opts.BOS != "" {
		id, ok := opts.Special[opts.BOS]
		if !ok {
			return Files{}, fmt.Errorf("tokenizer: BOS %q is not a special token", opts.BOS)
		}
		f.PostProcessor = obj{"type": "Sequence", "processors": []any{f.PostProcessor, templateBOS(opts.BOS, id)}}
		cfg["bos_token"] = opts.BOS
		cfg["add_bos_token"] = true
	}
	if opts.EOS != "" {
		if _, ok := opts.Special[opts.EOS]; !ok {
			return Files{}, fmt.Errorf("tokenizer: EOS %q is not a special token", opts.EOS)
		}
		cfg["eos_token"] = opts.EOS
	}
	return finish(f, cfg)
}

// tiktokenLastMerge runs tiktoken's byte-pair process (merge the adjacent
// pair whose concatenation has the lowest rank, leftmost on ties) over tok
// alone and returns the two parts its final merge joins, if it reaches tok.
func tiktokenLastMerge(tok string, rankOf map[string]int) (string, string, bool) {
	bounds := make([]int, len(tok)+1) // part i is tok[bounds[i]:bounds[i+1]]
	for i := range bounds {
		bounds[i] = i
	}
	for len(bounds) > 3 {
		best, bestRank := -1, 0
		for i := 0; i+2 < len(bounds); i++ {
			r, ok := rankOf[tok[bounds[i]:bounds[i+2]]]
			if ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			return "", "", false
		}
		bounds = append(bounds[:best+1], bounds[best+2:]...)
	}
	if len(bounds) != 3 {
		return "", "", false
	}
	return tok[:bounds[1]], tok[bounds[1]:], true
}
