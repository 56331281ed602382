// Command e2ebench measures ttq's end-to-end inference speed on one model —
// prompt processing and decode tokens/s and peak RSS, at full precision,
// 8-bit and 4-bit RTN checkpoints and TTQ 4-bit, the 4-bit ones also with
// float32 activations in decode (--activations f32) — and, given a llama.cpp
// build, llama-bench's figures on the same weights exported to GGUF (F16,
// Q8_0, Q4_0), with ttq's ratio to them (issue #9). A request — the long
// prompt, then -gen tokens — is timed too (prefill plus decode, TTQ's
// calibration included wherever it falls), against the bf16 request.
//
//	go run ./scripts/e2ebench -model DIR [-llamacpp ../shared/tools/llama.cpp-b4747] [-threads 1,2] [-rounds 3]
//
// Every figure is the median of -rounds rounds; within a round the
// configurations and the two programs alternate, so that the noise of a
// shared machine falls on both sides of each ratio. Decode runs from a short
// prompt, as llama-bench's tg does from an empty context; prompt processing
// uses a WikiText-2 prefix of about -prompt tokens, like its pp. Each ttq
// run warms up first (generate --warmup: the prompt and one decode step,
// untimed, through the state the measured request reuses), as llama-bench
// does before its repetitions; -cold times a fresh process's first request
// instead, which on a virtual machine that faults every new 4 KiB page in
// the hypervisor runs at about 0.6 of the warm speed (#9). -drop-caches
// (root) empties the page cache before every sample, because where the
// weights' pages land can move a run's decode speed by a quarter.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

type config struct {
	name     string
	quantize []string // ttq quantize flags for a checkpoint; nil: run as loaded
	method   []string // further generate flags (in-memory quantization, activations)
	gguf     string   // llama.cpp type of the same weights
}

var configs = []config{
	{name: "bf16", gguf: "f16"},
	{name: "rtn8 g32", quantize: []string{"--method", "rtn", "--bits", "8", "--group", "32"}, gguf: "q8_0"},
	{name: "rtn4 g32", quantize: []string{"--method", "rtn", "--bits", "4", "--group", "32"}, gguf: "q4_0"},
	{name: "rtn4 g32 f32-act", quantize: []string{"--method", "rtn", "--bits", "4", "--group", "32"}, gguf: "q4_0",
		method: []string{"--activations", "f32"}},
	// llama.cpp's Q4_0 and Q8_0 files hold a quantized LM head too: the
	// "head" rows read the same bytes per token as llama.cpp does.
	{name: "rtn8 g32 head8", quantize: []string{"--method", "rtn", "--bits", "8", "--group", "32", "--lm-head-bits", "8"}, gguf: "q8_0"},
	// Q8_0's own format: symmetric codes, half-precision scales, which the
	// 8-bit decode kernel reads as they are (34 bytes per 32 weights, as
	// llama.cpp's, against 37 with float32 scales and zero points).
	{name: "rtn8 g32 sym f16 head8", quantize: []string{"--method", "rtn", "--bits", "8", "--group", "32", "--grid", "sym", "--scale-type", "f16", "--lm-head-bits", "8"}, gguf: "q8_0"},
	{name: "rtn4 g32 head4", quantize: []string{"--method", "rtn", "--bits", "4", "--group", "32", "--lm-head-bits", "4"}, gguf: "q4_0"},
	{name: "ttq4 g32", method: []string{"--method", "ttq", "--bits", "4", "--group", "32"}, gguf: "q4_0"},
	{name: "ttq4 g32 head4", method: []string{"--method", "ttq", "--bits", "4", "--group", "32", "--lm-head-bits", "4"}, gguf: "q4_0"},
	{name: "ttq4 g32 f32-act", method: []string{"--method", "ttq", "--bits", "4", "--group", "32", "--activations", "f32"}, gguf: "q4_0"},
}

func configNames() string {
	var names []string
	for _, c := range configs {
		names = append(names, strconv.Quote(c.name))
	}
	return strings.Join(names, ", ")
}

type sample struct {
	pp, tg float64 // tokens/s
	req    float64 // seconds: the long prompt, then gen tokens
	rssMiB float64
}

type row struct {
	Config  string  `json:"config"`
	Threads int     `json:"threads"`
	TTQPP   float64 `json:"ttq_prompt_tokens_per_second"`
	TTQTG   float64 `json:"ttq_decode_tokens_per_second"`
	TTQRSS  float64 `json:"ttq_peak_rss_mib"`
	// TTQRequest is the seconds of one request: the pp prompt, then the
	// tg tokens generated from it.
	TTQRequest float64 `json:"ttq_request_seconds"`
	LlamaPP    float64 `json:"llamacpp_prompt_tokens_per_second,omitempty"`
	LlamaTG    float64 `json:"llamacpp_decode_tokens_per_second,omitempty"`
	LlamaRSS   float64 `json:"llamacpp_peak_rss_mib,omitempty"`
	PromptN    int     `json:"prompt_tokens"`
	// The decode tokens/s of every round, in the order run, behind the
	// medians: a ratio that moves between runs shows here whether one
	// round or all of them moved.
	TTQTGRounds   []float64 `json:"ttq_decode_tokens_per_second_rounds"`
	LlamaTGRounds []float64 `json:"llamacpp_decode_tokens_per_second_rounds,omitempty"`
}

// options are e2ebench's flags.
type options struct {
	modelDir, llama, threadList, textFile, work string
	rounds, promptTokens, genTokens             int
	asJSON                                      bool
	// cold leaves out generate's warm-up.
	cold bool
	// dropCaches empties the page cache before every sample (see
	// dropPageCache).
	dropCaches bool
}

func main() {
	var o options
	flag.StringVar(&o.modelDir, "model", "", "full-precision Hugging Face model directory (required)")
	flag.StringVar(&o.llama, "llamacpp", "", "llama.cpp build directory with bin/llama-bench (optional)")
	flag.StringVar(&o.threadList, "threads", "1,2", "comma-separated thread counts")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; figures are medians")
	flag.IntVar(&o.promptTokens, "prompt", 512, "prompt-processing length in tokens (approximate for ttq)")
	flag.IntVar(&o.genTokens, "gen", 48, "tokens generated per decode measurement")
	flag.StringVar(&o.textFile, "text", "../shared/data/wikitext-2-raw/wiki.test.raw", "text the prompt is cut from")
	flag.StringVar(&o.work, "work", "", "directory for the binary, checkpoints and GGUF files (default: a temporary one, removed)")
	flag.BoolVar(&o.asJSON, "json", false, "print JSON rows instead of a table")
	flag.BoolVar(&o.cold, "cold", false, "time ttq's first request of each process (no warm-up); llama-bench still warms up")
	flag.BoolVar(&o.dropCaches, "drop-caches", false, "empty the page cache before every sample, so each reads its weights into pages placed anew (Linux, root)")
	only := flag.String("configs", "", "comma-separated configurations to run (default: all): "+configNames())
	flag.Parse()
	if *only != "" {
		var keep []config
		for _, name := range strings.Split(*only, ",") {
			i := slices.IndexFunc(configs, func(c config) bool { return c.name == strings.TrimSpace(name) })
			if i < 0 {
				fmt.Fprintf(os.Stderr, "e2ebench: -configs: no configuration %q (have %s)\n", name, configNames())
				os.Exit(2)
			}
			keep = append(keep, configs[i])
		}
		configs = keep
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "e2ebench:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.modelDir == "" {
		return errors.New("-model is required")
	}
	if o.rounds < 1 || o.promptTokens < 8 || o.genTokens < 1 {
		return errors.New("-rounds, -prompt ≥ 8 and -gen must be positive")
	}
	if o.dropCaches && o.cold {
		return errors.New("-drop-caches with -cold would time reading the weights from disk")
	}
	var threads []int
	for _, s := range strings.Split(o.threadList, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || t < 1 {
			return fmt.Errorf("-threads %q: want positive integers", o.threadList)
		}
		threads = append(threads, t)
	}
	if o.work == "" {
		dir, err := os.MkdirTemp("", "e2ebench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	ttq := filepath.Join(o.work, "ttq")
	if out, err := exec.Command("go", "build", "-o", ttq, "./cmd/ttq").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	text, err := os.ReadFile(o.textFile)
	if err != nil {
		return err
	}
	prompt, n, err := promptOf(ttq, o.modelDir, string(text), o.promptTokens, !o.cold)
	if err != nil {
		return err
	}
	// Checkpoints and exports are made once, outside the timed runs.
	models := map[string]string{}
	ggufs := map[string]string{}
	for _, c := range configs {
		models[c.name] = o.modelDir
		if c.quantize != nil {
			dst := filepath.Join(o.work, strings.Join(c.quantize, ""))
			if _, err := os.Stat(dst); err != nil {
				args := append([]string{"quantize", o.modelDir, "-o", dst}, c.quantize...)
				if out, err := exec.Command(ttq, args...).CombinedOutput(); err != nil {
					return fmt.Errorf("ttq %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			models[c.name] = dst
		}
		if o.llama != "" && ggufs[c.gguf] == "" {
			dst := filepath.Join(o.work, c.gguf+".gguf")
			if _, err := os.Stat(dst); err != nil {
				args := []string{"export", o.modelDir, "--format", "gguf", "--type", c.gguf, "-o", dst}
				if out, err := exec.Command(ttq, args...).CombinedOutput(); err != nil {
					return fmt.Errorf("ttq %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			ggufs[c.gguf] = dst
		}
	}
	type key struct {
		config  string
		threads int
	}
	ttqRuns := map[key][]sample{}
	llamaRuns := map[key][]sample{}
	for r := 0; r < o.rounds; r++ {
		for _, t := range threads {
			for _, c := range configs {
				k := key{c.name, t}
				if err := dropPageCache(o.dropCaches); err != nil {
					return err
				}
				s, err := ttqSample(ttq, models[c.name], c.method, prompt, o.genTokens, t, !o.cold)
				if err != nil {
					return fmt.Errorf("%s, %d threads: %w", c.name, t, err)
				}
				ttqRuns[k] = append(ttqRuns[k], s)
				if o.llama != "" {
					if err := dropPageCache(o.dropCaches); err != nil {
						return err
					}
					s, err := llamaSample(o.llama, ggufs[c.gguf], o.promptTokens, o.genTokens, t)
					if err != nil {
						return fmt.Errorf("llama-bench %s, %d threads: %w", c.gguf, t, err)
					}
					llamaRuns[k] = append(llamaRuns[k], s)
				}
			}
		}
	}
	var rows []row
	for _, t := range threads {
		for _, c := range configs {
			k := key{c.name, t}
			rw := row{Config: c.name, Threads: t, PromptN: n}
			rw.TTQPP, rw.TTQTG, rw.TTQRSS, rw.TTQRequest = medians(ttqRuns[k])
			rw.TTQTGRounds = decodeRounds(ttqRuns[k])
			if o.llama != "" {
				rw.LlamaPP, rw.LlamaTG, rw.LlamaRSS, _ = medians(llamaRuns[k])
				rw.LlamaTGRounds = decodeRounds(llamaRuns[k])
			}
			rows = append(rows, rw)
		}
	}
	if o.asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return render(rows, o.llama != "", o.genTokens, o.rounds)
}

// promptOf cuts text to about n tokens of the model's tokenizer: it asks
// ttq for the token count of a first guess and rescales once or twice.
func promptOf(ttq, modelDir, text string, n int, warm bool) (string, int, error) {
	chars := 4 * n
	for range 4 {
		p := cut(text, chars)
		res, err := generate(ttq, modelDir, nil, p, 1, 1, warm)
		if err != nil {
			return "", 0, err
		}
		got := len(res.PromptTokens)
		if got >= n*95/100 && got <= n || chars >= len(text) {
			return p, got, nil
		}
		chars = chars * n / max(got, 1)
		if got > n {
			chars = chars * 99 / 100
		}
	}
	p := cut(text, chars)
	res, err := generate(ttq, modelDir, nil, p, 1, 1, warm)
	if err != nil {
		return "", 0, err
	}
	return p, len(res.PromptTokens), nil
}

func cut(text string, chars int) string {
	if chars >= len(text) {
		return text
	}
	for chars > 0 && (text[chars]&0xC0) == 0x80 {
		chars-- // keep whole UTF-8 sequences
	}
	return text[:chars]
}

type generateResult struct {
	PromptTokens   []int   `json:"prompt_tokens"`
	Tokens         []int   `json:"tokens"`
	PrefillSeconds float64 `json:"prefill_seconds"`
	DecodeSeconds  float64 `json:"decode_seconds"`
	DecodeTokPerS  float64 `json:"decode_tokens_per_second"`
	rssMiB         float64
}

func generate(ttq, modelDir string, method []string, prompt string, gen, threads int, warm bool) (generateResult, error) {
	args := append([]string{"generate", modelDir, "--prompt", prompt, "-n", strconv.Itoa(gen),
		"--threads", strconv.Itoa(threads), "--json"}, method...)
	if warm {
		args = append(args, "--warmup")
	}
	cmd := exec.Command(ttq, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return generateResult{}, fmt.Errorf("ttq generate: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var res generateResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return res, fmt.Errorf("ttq generate --json: %w", err)
	}
	res.rssMiB = peakRSSMiB(cmd.ProcessState)
	return res, nil
}

// ttqSample runs one prompt-processing and one decode measurement. A
// sampled EOS could end decode early; the model's greedy continuation of
// these prompts does not, and a short run is refused rather than timed.
func ttqSample(ttq, modelDir string, method []string, prompt string, gen, threads int, warm bool) (sample, error) {
	pp, err := generate(ttq, modelDir, method, prompt, gen, threads, warm)
	if err != nil {
		return sample{}, err
	}
	if len(pp.Tokens) < gen {
		return sample{}, fmt.Errorf("the request's decode stopped after %d of %d tokens", len(pp.Tokens), gen)
	}
	tg, err := generate(ttq, modelDir, method, "Once upon a time", gen, threads, warm)
	if err != nil {
		return sample{}, err
	}
	if len(tg.Tokens) < gen {
		return sample{}, fmt.Errorf("decode stopped after %d of %d tokens", len(tg.Tokens), gen)
	}
	return sample{
		pp:     float64(len(pp.PromptTokens)) / pp.PrefillSeconds,
		tg:     tg.DecodeTokPerS,
		req:    pp.PrefillSeconds + pp.DecodeSeconds,
		rssMiB: max(pp.rssMiB, tg.rssMiB),
	}, nil
}

func llamaSample(dir, gguf string, pp, tg, threads int) (sample, error) {
	cmd := exec.Command(filepath.Join(dir, "bin", "llama-bench"), "-m", gguf, "-p", strconv.Itoa(pp),
		"-n", strconv.Itoa(tg), "-t", strconv.Itoa(threads), "-r", "1", "-o", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return sample{}, fmt.Errorf("%v: %s", err, lastLine(stderr.String()))
	}
	var tests []struct {
		NPrompt int     `json:"n_prompt"`
		NGen    int     `json:"n_gen"`
		AvgTS   float64 `json:"avg_ts"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &tests); err != nil {
		return sample{}, fmt.Errorf("llama-bench -o json: %w", err)
	}
	s := sample{rssMiB: peakRSSMiB(cmd.ProcessState)}
	for _, t := range tests {
		switch {
		case t.NPrompt > 0 && t.NGen == 0:
			s.pp = t.AvgTS
		case t.NGen > 0 && t.NPrompt == 0:
			s.tg = t.AvgTS
		}
	}
	if s.pp == 0 || s.tg == 0 {
		return s, errors.New("llama-bench reported no pp or tg test")
	}
	return s, nil
}

// dropPageCache empties the page cache when enabled (-drop-caches). On the
// virtual machine #9 was measured on, the same process read the same
// mapped BF16 checkpoint at 0.57 decode tokens/s before the page cache was
// dropped and 14.3 after (the pages stayed resident and faulted nothing:
// the physical memory they had landed on was slow), and llama-bench's F16
// decode read 15.5 tokens/s in one run and 11.7 in the next, each steady
// within its run. Where a program's weights land is a property of a run,
// which interleaving does not spread over both sides of a ratio; placing
// them anew before every sample does. Both programs warm up before they
// are timed, so the read from disk is never timed.
func dropPageCache(enabled bool) error {
	if !enabled {
		return nil
	}
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0); err != nil {
		return fmt.Errorf("-drop-caches: %w (it needs Linux and root)", err)
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func peakRSSMiB(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // Linux reports KiB
	}
	return 0
}

func decodeRounds(s []sample) []float64 {
	v := make([]float64, len(s))
	for i, x := range s {
		v[i] = x.tg
	}
	return v
}

func medians(s []sample) (pp, tg, rss, req float64) {
	med := func(f func(sample) float64) float64 {
		v := make([]float64, len(s))
		for i, x := range s {
			v[i] = f(x)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return med(func(x sample) float64 { return x.pp }), med(func(x sample) float64 { return x.tg }),
		med(func(x sample) float64 { return x.rssMiB }), med(func(x sample) float64 { return x.req })
}

func render(rows []row, llama bool, gen, rounds int) error {
	header := []string{"config", "threads", fmt.Sprintf("pp%d tok/s", rows[0].PromptN), fmt.Sprintf("tg%d tok/s", gen), "peak RSS MiB",
		"request s", "request ÷ bf16"}
	bf16 := map[int]float64{}
	for _, r := range rows {
		if r.Config == "bf16" {
			bf16[r.Threads] = r.TTQRequest
		}
	}
	if llama {
		header = append(header, "llama.cpp pp", "llama.cpp tg", "llama.cpp RSS", "pp ratio", "tg ratio")
	}
	t := tablewriter.NewTable(os.Stdout, tablewriter.WithHeaderAutoFormat(tw.Off))
	hdr := make([]any, len(header))
	for i, h := range header {
		hdr[i] = h
	}
	t.Header(hdr...)
	for _, r := range rows {
		vsFP := "—"
		if fp := bf16[r.Threads]; fp > 0 {
			vsFP = fmt.Sprintf("%.2f", r.TTQRequest/fp)
		}
		line := []string{r.Config, strconv.Itoa(r.Threads), f1(r.TTQPP), f1(r.TTQTG), f1(r.TTQRSS),
			strconv.FormatFloat(r.TTQRequest, 'f', 2, 64), vsFP}
		if llama {
			line = append(line, f1(r.LlamaPP), f1(r.LlamaTG), f1(r.LlamaRSS),
				fmt.Sprintf("%.2f×", r.TTQPP/r.LlamaPP), fmt.Sprintf("%.2f×", r.TTQTG/r.LlamaTG))
		}
		if err := t.Append(line); err != nil {
			return err
		}
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Printf("medians of %d interleaved rounds; ttq's prompt is %d WikiText-2 tokens, its decode starts from \"Once upon a time\"; a request is that prompt, then %d tokens\n", rounds, rows[0].PromptN, gen)
	return nil
}

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
