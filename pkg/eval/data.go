package eval

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// The built-in datasets ship inside the binary so that evaluation runs
// offline; data/README.md gives their source, licences and checksums.
//
//go:embed data/wikitext-2-raw/wiki.test.raw data/wikitext-2-raw/wiki.valid.raw data/piqa/valid.jsonl data/piqa/valid-labels.lst
var builtin embed.FS

// PIQAValidItems is the size of PIQA's validation split.
const PIQAValidItems = 1838

// Text is an evaluation text, exactly as it is tokenized.
type Text struct {
	// Name says where the text came from, e.g. "wikitext-2-raw/test".
	Name string
	Text string
}

// SHA256 is the hex SHA-256 of the text's UTF-8 bytes: results computed on
// different texts (or different mappings of one file) never compare.
func (t Text) SHA256() string {
	h := sha256.Sum256([]byte(t.Text))
	return hex.EncodeToString(h[:])
}

// WikiTextRaw returns the built-in raw WikiText-2 file of a split, "test"
// (wiki.test.raw) or "valid" (wiki.valid.raw).
func WikiTextRaw(split string) ([]byte, error) {
	switch split {
	case "test", "valid":
		return builtin.ReadFile("data/wikitext-2-raw/wiki." + split + ".raw")
	}
	return nil, fmt.Errorf("eval: WikiText-2 split %q: want test or valid", split)
}

// WikiTextRows reconstructs the rows of Hugging Face's wikitext-2-raw-v1 from
// a raw file. The HF builder iterates over the file's lines keeping their
// "\n" and yields "" for a line that is only whitespace (the blank " " lines
// between paragraphs); every other line is a row with its newline. This
// reproduces HF's 4358 test / 3760 valid rows and num_bytes (text bytes + 4 per
// row), and the "\n\n"-joined string's SHA-256 pinned in FORMATS.md §6.2.
func WikiTextRows(raw string) []string {
	var rows []string
	for len(raw) > 0 {
		line := raw
		if i := strings.IndexByte(raw, '\n'); i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		if strings.TrimSpace(line) == "" {
			line = ""
		}
		rows = append(rows, line)
	}
	return rows
}

// WikiText returns the built-in WikiText-2 split as the protocol evaluates it:
//   - gptq: the HF rows joined with "\n\n", as GPTQ's datautils.get_wikitext2
//     (and AWQ, AutoAWQ) build the test string;
//   - llamacpp: the raw file as llama-perplexity -f reads it, which drops one
//     final "\n" (common/arg.cpp, option -f).
func WikiText(split string, p Protocol) (Text, error) {
	raw, err := WikiTextRaw(split)
	if err != nil {
		return Text{}, err
	}
	name := "wikitext-2-raw/" + split
	switch p {
	case ProtocolGPTQ:
		return Text{Name: name, Text: strings.Join(WikiTextRows(string(raw)), "\n\n")}, nil
	case ProtocolLlamaCpp:
		return Text{Name: name, Text: strings.TrimSuffix(string(raw), "\n")}, nil
	}
	return Text{}, fmt.Errorf("eval: unknown protocol %q", p)
}

// ReadTextFile reads a user's evaluation text; see ParseText.
func ReadTextFile(path string, p Protocol) (Text, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Text{}, err
	}
	return ParseText(path, data, p)
}

// ParseText turns a file's bytes into an evaluation text. A .jsonl file holds
// one JSON object per line with a string field "text" (blank lines are
// skipped); the texts are joined with "\n\n" like WikiText's rows under the
// gptq protocol. Any other file is UTF-8 text used as-is, except that the
// llamacpp protocol drops one final "\n", as llama-perplexity -f does.
func ParseText(name string, data []byte, p Protocol) (Text, error) {
	if p != ProtocolGPTQ && p != ProtocolLlamaCpp {
		return Text{}, fmt.Errorf("eval: unknown protocol %q", p)
	}
	if !utf8.Valid(data) {
		return Text{}, fmt.Errorf("%s: not valid UTF-8", name)
	}
	if strings.EqualFold(filepath.Ext(name), ".jsonl") {
		texts, err := parseJSONLTexts(name, data)
		if err != nil {
			return Text{}, err
		}
		return Text{Name: name, Text: strings.Join(texts, "\n\n")}, nil
	}
	s := string(data)
	if p == ProtocolLlamaCpp {
		s = strings.TrimSuffix(s, "\n")
	}
	return Text{Name: name, Text: s}, nil
}

func parseJSONLTexts(name string, data []byte) ([]string, error) {
	var texts []string
	err := forEachJSONLine(name, data, func(line int, raw json.RawMessage) error {
		var row struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(raw, &row); err != nil {
			return fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if row.Text == nil {
			return fmt.Errorf("%s:%d: no string field \"text\"", name, line)
		}
		texts = append(texts, *row.Text)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(texts) == 0 {
		return nil, fmt.Errorf("%s: no JSON lines", name)
	}
	return texts, nil
}

// forEachJSONLine calls fn for every non-blank line of a JSONL file, with
// 1-based line numbers for error messages.
func forEachJSONLine(name string, data []byte, fn func(line int, raw json.RawMessage) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	n := 0
	for sc.Scan() {
		n++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if !json.Valid(b) {
			return fmt.Errorf("%s:%d: not a JSON value", name, n)
		}
		if err := fn(n, json.RawMessage(b)); err != nil {
			return err
		}
	}
	return sc.Err()
}
