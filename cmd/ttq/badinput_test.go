package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ttqproject/ttq/pkg/model/safetensors"
)

// The bad-input suite (issue #11): corrupted inputs built at run time from
// the demo model, each run through every command that reads it in a
// subprocess of the real binary, which must fail with exit 1 (2 for usage),
// exactly one line on stderr, no panic, nothing written and within a time
// limit.

var ttqBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// builtTTQ compiles the ttq binary once per test process.
func builtTTQ(t *testing.T) string {
	t.Helper()
	b := &ttqBinary
	b.once.Do(func() {
		b.dir, b.err = os.MkdirTemp("", "ttq-bin-")
		if b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "ttq")
		out, err := exec.Command("go", "build", "-o", b.path, ".").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ttqBinary.dir != "" {
		os.RemoveAll(ttqBinary.dir)
	}
	os.Exit(code)
}

// subprocessTimeout bounds every command of the suites.
const subprocessTimeout = 30 * time.Second

// runBinary runs the built ttq with args and returns its exit code, stdout
// and stderr; a run past the time limit fails the test.
func runBinary(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), subprocessTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, builtTTQ(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("ttq %s: still running after %v", strings.Join(args, " "), subprocessTimeout)
	}
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("ttq %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errOut.String()
}

// snapshot lists every file below dir with its size and modification time.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		// A directory counts by its existence: one created and removed
		// again by a failing command leaves only its parent's mtime.
		files[p] = "dir"
		if !d.IsDir() {
			files[p] = fmt.Sprintf("%d %d", info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func diffSnapshots(before, after map[string]string) []string {
	var d []string
	for p, v := range after {
		if before[p] != v {
			d = append(d, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			d = append(d, p+" (removed)")
		}
	}
	sort.Strings(d)
	return d
}

// Input kinds and the commands that read each. {in} is the corrupted input,
// {out} a path the command may write to (it must not exist afterwards),
// {cache} an empty compare cache directory.
var readers = map[string][]string{
	"model": {
		"inspect {in}",
		"eval {in} --max-windows 1",
		"generate {in} --max-tokens 2 --prompt a",
		"quantize {in} --method rtn -o {out}",
		"export {in} --format gguf -o {out}",
		"compare --model {in} --methods fp,rtn --bits 4 --max-windows 1 --max-items 2 --cache {cache}",
	},
	"quant": {
		"inspect {in}",
		"eval {in} --max-windows 1",
		"generate {in} --max-tokens 2 --prompt a",
		"export {in} --format awq -o {out}",
	},
	"tokenizer-file": {"import --tokenizer {in} -o {out}"},
	"llama2c":        {"import --llama2c {in} -o {out}"},
	"text": {
		"eval --dataset {in} --max-windows 1",
		"quantize --method awq --calib {in} --nsamples 2 --calib-seqlen 16 -o {out}",
		"compare --methods fp --datasets {in} --max-windows 1 --cache {cache}",
	},
	"mc": {
		"eval --dataset mc:{in} --max-windows 2",
		"compare --methods fp --datasets mc:{in} --max-items 2 --cache {cache}",
	},
	"baseline": {"compare --check {in} --cache {cache}"},
}

type badInput struct {
	name string
	kind string
	// make writes the corrupted input into dir and returns its path.
	make func(t *testing.T, dir string) string
	// want is a substring of the error message (optional).
	want string
}

func TestBadInputSuite(t *testing.T) {
	cases := badInputs()
	if len(cases) < 50 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	builtTTQ(t)
	q4 := quantizedDemo(t)
	for _, bc := range cases {
		t.Run(bc.kind+"/"+bc.name, func(t *testing.T) {
			t.Parallel()
			work := t.TempDir()
			src := filepath.Join(work, "src")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			var in string
			if bc.kind == "quant" {
				in = bc.make(t, copyInto(t, q4, src))
			} else {
				in = bc.make(t, src)
			}
			cmds := readers[bc.kind]
			if testing.Short() && len(cmds) > 2 {
				cmds = cmds[:2]
			}
			for _, c := range cmds {
				out := filepath.Join(work, "out")
				cache := filepath.Join(work, "cache")
				if err := os.Mkdir(cache, 0o755); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t, work)
				var args []string
				for _, a := range strings.Fields(c) {
					a = strings.ReplaceAll(a, "{in}", in)
					a = strings.ReplaceAll(a, "{out}", out)
					a = strings.ReplaceAll(a, "{cache}", cache)
					args = append(args, a)
				}
				code, stdout, stderr := runBinary(t, []string{"HOME=" + work, "XDG_CACHE_HOME=" + work}, args...)
				cmdline := strings.Replace(c, "{in}", bc.name, 1)
				lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
				switch {
				case code != 1:
					t.Errorf("%s: exit %d, want 1; stderr %q", cmdline, code, stderr)
				case len(lines) != 1 || !strings.HasPrefix(stderr, "ttq: "):
					t.Errorf("%s: stderr is not one \"ttq: \" line: %q", cmdline, stderr)
				case strings.Contains(stderr+stdout, "panic") || strings.Contains(stderr+stdout, "goroutine "):
					t.Errorf("%s: panicked: %q", cmdline, stderr)
				case bc.want != "" && !strings.Contains(stderr, bc.want):
					t.Errorf("%s: stderr %q does not mention %q", cmdline, stderr, bc.want)
				}
				if d := diffSnapshots(before, snapshot(t, work)); len(d) > 0 {
					t.Errorf("%s: changed files %v", cmdline, d)
				}
				os.RemoveAll(cache)
			}
		})
	}
}

// quantizedDemo writes the demo quantized with rtn once for all cases.
func quantizedDemo(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "q4")
	if code, _, stderr := runBinary(t, nil, "quantize", "--method", "rtn", "-o", dir); code != 0 {
		t.Fatalf("quantize: %s", stderr)
	}
	return dir
}

// copyInto copies the flat directory src to dst/<base of src>.
func copyInto(t *testing.T, src, dst string) string {
	t.Helper()
	d := filepath.Join(dst, filepath.Base(src))
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, src, d)
	return d
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// demoModel copies the demo bundle into dir/model and returns that path.
func demoModel(t *testing.T, dir string) string {
	t.Helper()
	return copyInto(t, demoDir(t), dir)
}

// stFile is a model.safetensors split into its parsed header and data.
type stFile struct {
	header map[string]any
	data   []byte
}

func readST(t *testing.T, dir string) stFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, safetensors.SingleFileName))
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw)
	var h map[string]any
	if err := json.Unmarshal(raw[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	return stFile{h, raw[8+n:]}
}

func (s stFile) write(t *testing.T, dir string) {
	t.Helper()
	hdr, err := json.Marshal(s.header)
	if err != nil {
		t.Fatal(err)
	}
	writeRawST(t, dir, hdr, s.data)
}

func writeRawST(t *testing.T, dir string, hdr, data []byte) {
	t.Helper()
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(append(b, hdr...), data...)
	writeFile(t, filepath.Join(dir, safetensors.SingleFileName), b)
}

func (s stFile) tensor(name string) map[string]any { return s.header[name].(map[string]any) }

// editST applies edit to the header of dir's model.safetensors.
func editST(edit func(s stFile)) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		s := readST(t, dir)
		edit(s)
		s.write(t, dir)
	}
}

// rawST replaces dir's model.safetensors with f(original bytes).
func rawST(f func(b []byte) []byte) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, safetensors.SingleFileName)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, f(b))
	}
}

// inModel builds a corrupted copy of the demo model with corrupt.
func inModel(corrupt func(t *testing.T, dir string)) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		m := demoModel(t, dir)
		corrupt(t, m)
		return m
	}
}

// editJSON rewrites dir/name through edit.
func editJSON(name string, edit func(v map[string]any)) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		edit(v)
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, b)
	}
}

func writeIndex(weightMap map[string]any) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": weightMap})
		writeFile(t, filepath.Join(dir, safetensors.IndexFileName), b)
	}
}

// fullIndex maps every tensor of dir's model.safetensors to it, then
// applies change.
func fullIndex(change func(m map[string]any)) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		s := readST(t, dir)
		m := map[string]any{}
		for name := range s.header {
			if name != safetensors.MetadataKey {
				m[name] = safetensors.SingleFileName
			}
		}
		change(m)
		writeIndex(m)(t, dir)
	}
}

// fileInput writes content to dir/name.
func fileInput(name string, content []byte) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, content)
		return p
	}
}

// llama2cFile is a v0 checkpoint of the given header with zero weights,
// sized exactly (extra adds bytes; cut removes them).
func llama2cFile(h [7]int32, extra, cut int, patch func(b []byte)) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		dim, hidden, layers, heads, kv, vocab, seq := int64(h[0]), int64(h[1]), int64(h[2]), int64(h[3]), int64(h[4]), int64(h[5]), int64(h[6])
		if vocab < 0 {
			vocab = -vocab
		}
		n := int64(0)
		if dim > 0 && heads > 0 && layers > 0 && kv > 0 && hidden > 0 && vocab < 1<<20 && dim < 1<<12 && layers < 64 {
			hd := dim / heads
			n = vocab*dim + layers*(dim+dim*dim+2*dim*hd*kv+dim*dim+dim+3*dim*hidden) + dim + seq*hd
		}
		b := make([]byte, 0, 28+4*n+int64(extra))
		for _, v := range h {
			b = binary.LittleEndian.AppendUint32(b, uint32(v))
		}
		b = append(b, make([]byte, 4*n+int64(extra))...)
		b = b[:len(b)-cut]
		if patch != nil {
			patch(b)
		}
		p := filepath.Join(dir, "model.bin")
		writeFile(t, p, b)
		return p
	}
}

var demoHeader = [7]int32{64, 172, 5, 8, 4, 512, 512}

func setField(k string, v any) func(m map[string]any) { return func(m map[string]any) { m[k] = v } }

func badInputs() []badInput {
	var cs []badInput
	add := func(kind, name, want string, mk func(t *testing.T, dir string) string) {
		cs = append(cs, badInput{name: name, kind: kind, make: mk, want: want})
	}
	model := func(name, want string, corrupt func(t *testing.T, dir string)) {
		add("model", name, want, inModel(corrupt))
	}
	const emb = "model.embed_tokens.weight"

	// safetensors
	model("st-empty", "", rawST(func([]byte) []byte { return nil }))
	model("st-header-len-huge", "header length", rawST(func(b []byte) []byte { binary.LittleEndian.PutUint64(b, 1<<62); return b }))
	model("st-header-len-past-end", "truncated", rawST(func(b []byte) []byte { binary.LittleEndian.PutUint64(b, uint64(len(b))); return b }))
	model("st-header-len-zero", "", rawST(func(b []byte) []byte { binary.LittleEndian.PutUint64(b, 0); return b }))
	model("st-header-not-json", "", rawST(func(b []byte) []byte { copy(b[8:], "not json"); return b }))
	model("st-header-not-utf8", "UTF-8", rawST(func(b []byte) []byte { b[10] = 0xff; return b }))
	model("st-truncated", "", rawST(func(b []byte) []byte { return b[:len(b)-1000] }))
	model("st-extra-bytes", "", rawST(func(b []byte) []byte { return append(b, 0, 0, 0, 0) }))
	model("st-offset-past-end", "", editST(func(s stFile) {
		s.tensor(emb)["data_offsets"] = []any{0, len(s.data) + 4}
	}))
	model("st-offsets-reversed", "", editST(func(s stFile) {
		s.tensor(emb)["data_offsets"] = []any{131072, 0}
	}))
	model("st-offsets-overlap", "", editST(func(s stFile) {
		s.tensor("model.layers.0.input_layernorm.weight")["data_offsets"] = []any{131000, 131256}
	}))
	model("st-dtype-unknown", emb, editST(func(s stFile) { s.tensor(emb)["dtype"] = "Q9" }))
	model("st-dtype-int", emb, editST(func(s stFile) {
		s.tensor(emb)["dtype"] = "I32"
	}))
	model("st-dtype-size-mismatch", emb, editST(func(s stFile) { s.tensor(emb)["dtype"] = "F16" }))
	model("st-shape-transposed", emb, editST(func(s stFile) { s.tensor(emb)["shape"] = []any{64, 512} }))
	model("st-shape-negative", "", editST(func(s stFile) { s.tensor(emb)["shape"] = []any{-512, -64} }))
	model("st-shape-not-array", "", editST(func(s stFile) { s.tensor(emb)["shape"] = "512x64" }))
	model("st-missing-tensor", "model.norm.weight", editST(func(s stFile) {
		s.header["model.norm.weightX"] = s.header["model.norm.weight"]
		delete(s.header, "model.norm.weight")
	}))
	model("st-duplicate-name", "", func(t *testing.T, dir string) {
		s := readST(t, dir)
		hdr, _ := json.Marshal(s.header)
		dup := fmt.Sprintf(`{"model.norm.weight":{"dtype":"F32","shape":[64],"data_offsets":[0,256]},%s`, hdr[1:])
		writeRawST(t, dir, []byte(dup), s.data)
	})
	model("st-nan-weight", "is NaN", rawST(func(b []byte) []byte {
		n := binary.LittleEndian.Uint64(b)
		binary.LittleEndian.PutUint32(b[8+n+4*100:], 0x7fc00000)
		return b
	}))
	model("st-inf-norm", "+Inf", editST(func(s stFile) {
		off := int(s.tensor("model.norm.weight")["data_offsets"].([]any)[0].(float64))
		binary.LittleEndian.PutUint32(s.data[off:], math.Float32bits(float32(math.Inf(1))))
	}))
	model("index-missing-shard", "", fullIndex(setField(emb, "model-00002-of-00002.safetensors")))
	model("index-missing-tensor", "does not contain", fullIndex(setField("model.layers.9.mlp.up_proj.weight", safetensors.SingleFileName)))
	model("index-escapes-dir", "", fullIndex(setField(emb, "../model.safetensors")))
	model("index-empty-map", "", writeIndex(map[string]any{}))
	model("index-not-json", "", func(t *testing.T, dir string) {
		writeFile(t, filepath.Join(dir, safetensors.IndexFileName), []byte("{"))
	})
	model("index-wrong-type", "", func(t *testing.T, dir string) {
		writeFile(t, filepath.Join(dir, safetensors.IndexFileName), []byte(`{"weight_map":[1,2]}`))
	})

	// config.json: every numeric field zero, negative, huge and of the wrong type.
	for _, f := range []string{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta"} {
		vals := []struct {
			name string
			v    any
		}{{"zero", 0}, {"negative", -1}, {"huge", 1 << 40}, {"string", "64"}}
		if testing.Short() {
			vals = vals[:2]
		}
		for _, v := range vals {
			if f == "rope_theta" && v.name == "huge" {
				continue // valid: the rotation just fades (long-context models use 1e6–1e9)
			}
			model("config-"+f+"-"+v.name, "", editJSON("config.json", setField(f, v.v)))
		}
	}
	model("config-not-json", "config.json", func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "config.json"), []byte("{")) })
	model("config-missing", "config.json", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "config.json")) })
	// (bos/eos_token_id beyond the vocabulary are accepted: ttq takes the
	// special ids from the tokenizer, and such configs exist.)

	// tokenizer.json in a model directory
	tokFile := func(t *testing.T, dir string) string { return filepath.Join(dir, "tokenizer.json") }
	model("tok-truncated", "tokenizer", func(t *testing.T, dir string) {
		b, _ := os.ReadFile(tokFile(t, dir))
		writeFile(t, tokFile(t, dir), b[:len(b)/2])
	})
	model("tok-empty", "tokenizer", func(t *testing.T, dir string) { writeFile(t, tokFile(t, dir), nil) })
	model("tok-vocab-wrong-type", "tokenizer", editJSON("tokenizer.json", func(v map[string]any) {
		v["model"].(map[string]any)["vocab"] = []any{"a", "b"}
	}))
	model("tok-merges-wrong-type", "tokenizer", editJSON("tokenizer.json", func(v map[string]any) {
		v["model"].(map[string]any)["merges"] = 7
	}))
	model("tok-unknown-merge", "tokenizer", editJSON("tokenizer.json", func(v map[string]any) {
		m := v["model"].(map[string]any)
		m["merges"] = append([]any{"▁qq zz"}, m["merges"].([]any)...)
	}))
	model("tok-duplicate-id", "both have id", editJSON("tokenizer.json", func(v map[string]any) {
		v["model"].(map[string]any)["vocab"].(map[string]any)["▁ha"] = 299
	}))
	model("tok-id-beyond-embedding", "embedding rows", editJSON("tokenizer.json", func(v map[string]any) {
		v["model"].(map[string]any)["vocab"].(map[string]any)["▁ha"] = 600
	}))
	model("tok-added-negative-id", "tokenizer", editJSON("tokenizer.json", func(v map[string]any) {
		v["added_tokens"] = []any{map[string]any{"id": -3, "content": "<x>"}}
	}))
	model("tok-model-unigram", "tokenizer", editJSON("tokenizer.json", func(v map[string]any) {
		v["model"].(map[string]any)["type"] = "Unigram"
	}))
	model("tok-huge-line", "tokenizer", func(t *testing.T, dir string) {
		writeFile(t, tokFile(t, dir), append([]byte(`{"model":"`), bytes.Repeat([]byte("a"), 20<<20)...))
	})

	// quantized checkpoints (the rtn demo)
	quant := func(name, want string, corrupt func(t *testing.T, dir string)) {
		// make receives a copy of the quantized demo.
		cs = append(cs, badInput{name: name, kind: "quant", want: want, make: func(t *testing.T, dir string) string {
			corrupt(t, dir)
			return dir
		}})
	}
	const down = "model.layers.0.mlp.down_proj"
	meta := func(edit func(m map[string]any)) func(t *testing.T, dir string) {
		return editST(func(s stFile) { edit(s.header[safetensors.MetadataKey].(map[string]any)) })
	}
	quant("meta-garbage-format", down, meta(setField("ttq.layer_format."+down, "int9-gx-what-f16")))
	quant("meta-missing-format", down, meta(func(m map[string]any) { delete(m, "ttq.layer_format."+down) }))
	quant("meta-bits-disagree", down, meta(setField("ttq.layer_format."+down, "int8-g128-minmax-f16")))
	quant("meta-group-disagree", down, meta(setField("ttq.layer_format."+down, "int4-g32-minmax-f16")))
	quant("meta-scale-type-disagree", down, meta(setField("ttq.layer_format."+down, "int4-g128-minmax-f32")))
	quant("meta-not-string", "", meta(setField("ttq.method", 7)))
	quant("qweight-shape-disagree", down, editST(func(s stFile) {
		sh := s.tensor(down + ".qweight")["shape"].([]any)
		s.tensor(down + ".qweight")["shape"] = []any{sh[1], sh[0]}
	}))
	quant("scales-missing", down+".scales", editST(func(s stFile) {
		s.header[down+".scalesX"] = s.header[down+".scales"]
		delete(s.header, down+".scales")
	}))
	quant("qzeros-missing", down+".qzeros", editST(func(s stFile) {
		s.header[down+".qzerosX"] = s.header[down+".qzeros"]
		delete(s.header, down+".qzeros")
	}))
	f16At := func(name string, bits uint16) func(t *testing.T, dir string) {
		return editST(func(s stFile) {
			off := int(s.tensor(name)["data_offsets"].([]any)[0].(float64))
			binary.LittleEndian.PutUint16(s.data[off+2:], bits)
		})
	}
	quant("scale-nan", "is NaN", f16At(down+".scales", 0x7e00))
	quant("scale-inf", "is +Inf", f16At(down+".scales", 0x7c00))

	// standalone tokenizer files (import --tokenizer)
	add("tokenizer-file", "empty.model", "", fileInput("empty.model", nil))
	add("tokenizer-file", "garbage.model", "", fileInput("garbage.model", []byte("\x0a\xff\xff\xff\xff\x0fgarbage")))
	add("tokenizer-file", "truncated.json", "", fileInput("tokenizer.json", []byte(`{"model":{"type":"BPE","vocab":{"a":`)))

	// llama2.c checkpoints
	add("llama2c", "empty", "", fileInput("model.bin", nil))
	add("llama2c", "short-header", "", fileInput("model.bin", []byte{64, 0, 0, 0, 172, 0, 0, 0, 5, 0}))
	add("llama2c", "truncated-weights", "", llama2cFile(demoHeader, 0, 100, nil))
	add("llama2c", "extra-bytes", "", llama2cFile(demoHeader, 12, 0, nil))
	add("llama2c", "dim-zero", "", llama2cFile([7]int32{0, 172, 5, 8, 4, 512, 512}, 0, 0, nil))
	add("llama2c", "layers-negative", "", llama2cFile([7]int32{64, 172, -5, 8, 4, 512, 512}, 0, 0, nil))
	add("llama2c", "heads-not-dividing", "", llama2cFile([7]int32{64, 172, 5, 7, 7, 512, 512}, 0, 0, nil))
	add("llama2c", "vocab-huge", "", llama2cFile([7]int32{64, 172, 5, 8, 4, 1 << 30, 512}, 0, 0, nil))
	add("llama2c", "nan-weight", "NaN", llama2cFile(demoHeader, 0, 0, func(b []byte) {
		binary.LittleEndian.PutUint32(b[28+4*7:], 0x7fc00000)
	}))

	// datasets
	rng := rand.New(rand.NewPCG(1, 2))
	bin := make([]byte, 4096)
	for i := range bin {
		bin[i] = byte(rng.UintN(256))
	}
	add("text", "empty.txt", "", fileInput("empty.txt", nil))
	add("text", "binary.txt", "", fileInput("binary.txt", bin))
	add("text", "invalid-utf8.txt", "UTF-8", fileInput("bad.txt", []byte("Once upon a time \xff\xfe there was")))
	add("text", "one-token.txt", "", fileInput("one.txt", []byte("a")))
	add("text", "jsonl-no-text.jsonl", "", fileInput("no.jsonl", []byte("{\"title\":\"x\"}\n")))
	mc := func(name, want, content string) { add("mc", name, want, fileInput("mc.jsonl", []byte(content))) }
	mc("empty", "", "")
	mc("not-json", "", "hello\n")
	mc("label-missing", "label", `{"goal":"g","sol1":"a","sol2":"b"}`+"\n")
	mc("label-out-of-range", "out of range", `{"goal":"g","sol1":"a","sol2":"b","label":2}`+"\n")
	mc("label-negative", "out of range", `{"goal":"g","sol1":"a","sol2":"b","label":-1}`+"\n")
	mc("zero-choices", "choices", `{"context":"c","choices":[],"label":0}`+"\n")
	many := make([]string, 10000)
	for i := range many {
		many[i] = fmt.Sprintf("choice %d", i)
	}
	manyJSON, _ := json.Marshal(map[string]any{"context": "c", "choices": many, "label": 0})
	mc("10000-choices", "choices", string(manyJSON)+"\n")

	// compare baselines
	base := func(name, want string, edit func(b []byte) []byte) {
		add("baseline", name, want, func(t *testing.T, dir string) string {
			b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "regress", "baseline.json"))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "baseline.json")
			writeFile(t, p, edit(b))
			return p
		})
	}
	base("truncated", "", func(b []byte) []byte { return b[:len(b)/2] })
	base("empty", "", func([]byte) []byte { return nil })
	base("wrong-schema", "schema", func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"ttq.compare/v1"`), []byte(`"ttq.compare/v0"`), 1)
	})
	base("unknown-method", "", func(b []byte) []byte {
		return bytes.ReplaceAll(b, []byte(`"rtn"`), []byte(`"zzz"`))
	})
	base("rows-wrong-type", "", func(b []byte) []byte {
		var v map[string]any
		json.Unmarshal(b, &v)
		v["rows"] = "none"
		b, _ = json.Marshal(v)
		return b
	})
	return cs
}
