package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/internal/shareddata"
	"github.com/ttqproject/ttq/pkg/model"
)

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// The embedded files are byte-identical to ../shared/data (checksums from
// its PROVENANCE.md, repeated in data/README.md).
func TestEmbeddedDataChecksums(t *testing.T) {
	want := map[string]string{
		"data/wikitext-2-raw/wiki.test.raw":  "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08",
		"data/wikitext-2-raw/wiki.valid.raw": "4cd0f6876d07a413aa911261ff6d363c72d757d47f0fdd6015702014c89cb9c7",
		"data/piqa/valid.jsonl":              "93503cc97c679e459b065c3d13e848282e44b2a25213985bed3e5d458abef72d",
		"data/piqa/valid-labels.lst":         "b4192dc3a2a0363d9d60ccf79800cbbe2f32ebb17726efdde6970e0b8131bceb",
	}
	for name, h := range want {
		b, err := builtin.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if got := sha(b); got != h {
			t.Errorf("%s: sha256 %s, want %s", name, got, h)
		}
	}
}

// FORMATS.md §6.2: the gptq evaluation strings ("\n\n".join of the HF rows)
// of the test and valid splits, pinned by length and SHA-256.
func TestWikiTextGPTQTextPinned(t *testing.T) {
	for _, c := range []struct {
		split      string
		rows, size int
		sha        string
	}{
		{"test", 4358, 1296370, "696cca6b65a171b0a358a4be6732cdfdf2dd6164a32e20fd70e3c13fc4dfae83"},
		{"valid", 3760, 1151766, "b44fb967f92b525731216a507d1fbc44b97446b7ef0a2b4d1a893f81f1bbc29e"},
	} {
		raw, err := WikiTextRaw(c.split)
		if err != nil {
			t.Fatal(err)
		}
		rows := WikiTextRows(string(raw))
		textBytes := 0
		for _, r := range rows {
			textBytes += len(r)
		}
		// HF num_bytes = text bytes + 4 per row: 1,305,088 (test), 1,159,288 (valid).
		if len(rows) != c.rows || textBytes+4*len(rows) != map[string]int{"test": 1305088, "valid": 1159288}[c.split] {
			t.Errorf("%s: %d rows, %d text bytes", c.split, len(rows), textBytes)
		}
		txt, err := WikiText(c.split, ProtocolGPTQ)
		if err != nil {
			t.Fatal(err)
		}
		if len(txt.Text) != c.size || txt.SHA256() != c.sha {
			t.Errorf("%s: gptq text %d bytes, sha256 %s; want %d, %s", c.split, len(txt.Text), txt.SHA256(), c.size, c.sha)
		}
		// llamacpp reads the file as llama-perplexity -f does: the bytes
		// without their final newline.
		lc, err := WikiText(c.split, ProtocolLlamaCpp)
		if err != nil {
			t.Fatal(err)
		}
		if lc.Text+"\n" != string(raw) {
			t.Errorf("%s: llamacpp text is not the raw file minus its last newline", c.split)
		}
	}
	if _, err := WikiText("train", ProtocolGPTQ); err == nil {
		t.Error("train split: no error (it is not shipped)")
	}
	if _, err := WikiText("test", "ppl"); err == nil {
		t.Error("unknown protocol: no error")
	}
}

func TestEmbeddedDataMatchesSharedData(t *testing.T) {
	dir := shareddata.Dir(t)
	for _, name := range []string{"wikitext-2-raw/wiki.test.raw", "wikitext-2-raw/wiki.valid.raw", "piqa/valid.jsonl", "piqa/valid-labels.lst"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := builtin.ReadFile("data/" + name)
		if string(got) != string(want) {
			t.Errorf("%s differs from ../shared/data", name)
		}
	}
}

func TestWikiTextRows(t *testing.T) {
	rows := WikiTextRows(" \n = Title = \n \n\tText here.\n  \nlast")
	want := []string{"", " = Title = \n", "", "\tText here.\n", "", "last"}
	if len(rows) != len(want) {
		t.Fatalf("rows %q", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Fatalf("row %d = %q, want %q", i, rows[i], want[i])
		}
	}
	if len(WikiTextRows("")) != 0 {
		t.Fatal("empty text has rows")
	}
}

func TestParseText(t *testing.T) {
	txt, err := ParseText("a.txt", []byte("hello\nworld\n"), ProtocolGPTQ)
	if err != nil || txt.Text != "hello\nworld\n" {
		t.Fatalf("plain gptq: %q %v", txt.Text, err)
	}
	txt, _ = ParseText("a.txt", []byte("hello\nworld\n"), ProtocolLlamaCpp)
	if txt.Text != "hello\nworld" {
		t.Fatalf("plain llamacpp: %q", txt.Text)
	}
	txt, err = ParseText("a.jsonl", []byte("{\"text\": \"one\"}\n\n{\"text\": \"two\", \"id\": 3}\n"), ProtocolLlamaCpp)
	if err != nil || txt.Text != "one\n\ntwo" {
		t.Fatalf("jsonl: %q %v", txt.Text, err)
	}
	for _, c := range []struct{ name, data, msg string }{
		{"a.jsonl", `{"txt": "x"}`, `no string field "text"`},
		{"a.jsonl", `{"text": 3}`, "a.jsonl:1"},
		{"a.jsonl", "{\"text\": \"x\"}\n{oops", "a.jsonl:2: not a JSON value"},
		{"a.jsonl", "\n\n", "no JSON lines"},
		{"a.txt", "\xff\xfe", "not valid UTF-8"},
	} {
		_, err := ParseText(c.name, []byte(c.data), ProtocolGPTQ)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v, want %q", c.data, err, c.msg)
		}
	}
	if _, err := ReadTextFile(filepath.Join(t.TempDir(), "missing.txt"), ProtocolGPTQ); err == nil {
		t.Error("missing file: no error")
	}
}

func FuzzParseText(f *testing.F) {
	f.Add("a.jsonl", []byte("{\"text\": \"one\"}\n{\"text\": \"two\"}\n"))
	f.Add("a.txt", []byte("plain\n"))
	f.Add("a.jsonl", []byte("{\"text\": null}\n[1]\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		for _, p := range []Protocol{ProtocolGPTQ, ProtocolLlamaCpp} {
			txt, err := ParseText(name, data, p)
			if err != nil {
				continue
			}
			if !strings.EqualFold(filepath.Ext(name), ".jsonl") && !strings.HasPrefix(string(data), txt.Text) {
				t.Fatalf("plain text changed: %q → %q", data, txt.Text)
			}
		}
	})
}

// Rows partition the text: concatenating them gives it back with
// whitespace-only lines emptied.
func FuzzWikiTextRows(f *testing.F) {
	f.Add(" \n = A = \n \nx\n")
	f.Add("no newline")
	f.Add("\n\n\n")
	f.Fuzz(func(t *testing.T, raw string) {
		rows := WikiTextRows(raw)
		var b strings.Builder
		lines := strings.SplitAfter(raw, "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if len(rows) != len(lines) {
			t.Fatalf("%d rows for %d lines", len(rows), len(lines))
		}
		for i, l := range lines {
			if strings.TrimSpace(l) == "" {
				l = ""
			}
			if rows[i] != l {
				t.Fatalf("row %d = %q, want %q", i, rows[i], l)
			}
			b.WriteString(rows[i])
		}
	})
}

// A task's built-in dataset gets its default split; a split elsewhere, or
// one the dataset lacks, is the caller's mistake.
func TestTaskValidate(t *testing.T) {
	task := Task{Dataset: "wikitext", Protocol: "gptq", BOS: "auto"}
	if err := task.Validate(); err != nil || task.Split != "test" || task.IsMultipleChoice() {
		t.Fatalf("wikitext: split %q, %v", task.Split, err)
	}
	task = Task{Dataset: "piqa", Protocol: "gptq", BOS: "auto"}
	if err := task.Validate(); err != nil || task.Split != "valid" || !task.IsMultipleChoice() {
		t.Fatalf("piqa: split %q, %v", task.Split, err)
	}
	for _, bad := range []Task{
		{Dataset: "", Protocol: "gptq", BOS: "auto"},
		{Dataset: "mc:", Protocol: "gptq", BOS: "auto"},
		{Dataset: "wikitext", Split: "train", Protocol: "gptq", BOS: "auto"},
		{Dataset: "notes.txt", Split: "test", Protocol: "gptq", BOS: "auto"},
		{Dataset: "wikitext", Protocol: "gptq", BOS: "sometimes"},
	} {
		var oe *model.OptionError
		if err := bad.Validate(); !errors.As(err, &oe) {
			t.Errorf("%+v: %v, want a *model.OptionError", bad, err)
		}
	}
}
