package eval

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MCItem is one multiple-choice question: the model scores each choice as a
// continuation of Context.
type MCItem struct {
	Context string
	Choices []string
	Label   int
}

// PIQAContext is lm-evaluation-harness's piqa doc_to_text
// (lm_eval/tasks/piqa/piqa.yaml).
func PIQAContext(goal string) string { return "Question: " + goal + "\nAnswer:" }

// TargetDelimiter is put between the context and each choice
// (lm-evaluation-harness's default target_delimiter, lm_eval/config/task.py).
const TargetDelimiter = " "

// PIQA returns the built-in PIQA validation split (1838 items), the split
// lm-evaluation-harness evaluates (its test labels are hidden).
func PIQA() ([]MCItem, error) {
	data, err := builtin.ReadFile("data/piqa/valid.jsonl")
	if err != nil {
		return nil, err
	}
	labels, err := builtin.ReadFile("data/piqa/valid-labels.lst")
	if err != nil {
		return nil, err
	}
	items, err := ParseMC("piqa/valid.jsonl", data, labels)
	if err != nil {
		return nil, err
	}
	if len(items) != PIQAValidItems {
		return nil, fmt.Errorf("eval: built-in PIQA has %d items, want %d", len(items), PIQAValidItems)
	}
	return items, nil
}

// ReadMCFile reads a multiple-choice JSONL file (see ParseMC). Labels not
// given inline are read from the labels file beside it: FILE.jsonl →
// FILE-labels.lst, which is how PIQA's valid.jsonl/valid-labels.lst and the
// AI2 zip's dev.jsonl/dev-labels.lst are named.
func ReadMCFile(path string) ([]MCItem, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	labels, err := os.ReadFile(LabelsPath(path))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		labels = nil
	}
	return ParseMC(path, data, labels)
}

// LabelsPath is where ReadMCFile looks for a file's labels.
func LabelsPath(path string) string {
	return strings.TrimSuffix(path, ".jsonl") + "-labels.lst"
}

// MaxChoices bounds the choices of one multiple-choice item. Benchmarks
// have 2 (PIQA, Winogrande) to 5 (ARC); thousands are a malformed file
// that would otherwise run for hours.
const MaxChoices = 100

// ParseMC parses multiple-choice JSONL, one question per line:
//
//	context: "context" (used verbatim), or "goal" / "question" (PIQA and
//	         ARC style, wrapped as "Question: {text}\nAnswer:")
//	choices: "choices": ["…", "…", …], or "sol1", "sol2", … (consecutive)
//	label:   "label": the 0-based index of the right choice (number or
//	         numeric string), or line i of labels (one index per line)
//
// At least two choices are required. When labels is non-nil it must have one
// line per item, and inline labels must agree with it.
func ParseMC(name string, data, labels []byte) ([]MCItem, error) {
	var items []MCItem
	var inline []bool
	err := forEachJSONLine(name, data, func(line int, raw json.RawMessage) error {
		it, has, err := parseMCLine(raw)
		if err != nil {
			return fmt.Errorf("%s:%d: %v", name, line, err)
		}
		items = append(items, it)
		inline = append(inline, has)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no JSON lines", name)
	}
	if labels != nil {
		ls, err := parseLabels(labels)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", LabelsPath(name), err)
		}
		if len(ls) != len(items) {
			return nil, fmt.Errorf("%s: %d labels for %d items", LabelsPath(name), len(ls), len(items))
		}
		for i, l := range ls {
			if inline[i] && items[i].Label != l {
				return nil, fmt.Errorf("%s: item %d has label %d inline but %d in the labels file", name, i+1, items[i].Label, l)
			}
			items[i].Label = l
			inline[i] = true
		}
	}
	for i, it := range items {
		if !inline[i] {
			return nil, fmt.Errorf("%s: item %d has no label (give \"label\" or a %s file)", name, i+1, LabelsPath(name))
		}
		if it.Label < 0 || it.Label >= len(it.Choices) {
			return nil, fmt.Errorf("%s: item %d: label %d out of range for %d choices", name, i+1, it.Label, len(it.Choices))
		}
	}
	return items, nil
}

func parseMCLine(raw json.RawMessage) (MCItem, bool, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return MCItem{}, false, errors.New("not a JSON object")
	}
	str := func(key string) (string, bool, error) {
		v, ok := obj[key]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", true, fmt.Errorf("%q is not a string", key)
		}
		return s, true, nil
	}
	var it MCItem
	found := false
	for _, key := range []string{"context", "goal", "question"} {
		s, ok, err := str(key)
		if err != nil {
			return it, false, err
		}
		if ok {
			if key == "context" {
				it.Context = s
			} else {
				it.Context = PIQAContext(s)
			}
			found = true
			break
		}
	}
	if !found {
		return it, false, errors.New(`no "context", "goal" or "question" field`)
	}
	if v, ok := obj["choices"]; ok {
		if err := json.Unmarshal(v, &it.Choices); err != nil {
			return it, false, errors.New(`"choices" is not an array of strings`)
		}
	} else {
		for k := 1; ; k++ {
			s, ok, err := str("sol" + strconv.Itoa(k))
			if err != nil {
				return it, false, err
			}
			if !ok {
				break
			}
			it.Choices = append(it.Choices, s)
		}
	}
	if len(it.Choices) < 2 {
		return it, false, fmt.Errorf(`%d choices; need "choices" or "sol1", "sol2", … with at least two`, len(it.Choices))
	}
	if len(it.Choices) > MaxChoices {
		return it, false, fmt.Errorf("%d choices; at most %d are accepted (each costs a forward pass)", len(it.Choices), MaxChoices)
	}
	v, ok := obj["label"]
	if !ok {
		return it, false, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return it, false, errors.New(`bad "label"`)
	}
	switch t := x.(type) {
	case json.Number:
		n = t
	case string:
		n = json.Number(strings.TrimSpace(t))
	default:
		return it, false, errors.New(`"label" must be a number or a numeric string`)
	}
	l, err := strconv.Atoi(string(n))
	if err != nil {
		return it, false, fmt.Errorf(`"label" %q is not an integer`, string(n))
	}
	it.Label = l
	return it, true, nil
}

func parseLabels(data []byte) ([]int, error) {
	var ls []int
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		l, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: %q is not an integer label", n, s)
		}
		ls = append(ls, l)
	}
	return ls, sc.Err()
}

// MCRequest is a tokenized item: the context tokens and, per choice, the
// continuation tokens scored after them (lm-evaluation-harness's
// context_enc and continuation_enc).
type MCRequest struct {
	Context       []int
	Continuations [][]int
	// ChoiceChars is the length of each raw choice in characters (Unicode
	// code points, Python's len), acc_norm's normalizer.
	ChoiceChars []int
	Label       int
}

// EncodeMC tokenizes items like lm-evaluation-harness's
// TemplateLM._encode_pair: trailing whitespace of the context moves to the
// front of the continuation; context+continuation is encoded whole and the
// continuation tokens are whole[len(encode(context)):], so that a token that
// straddles the boundary counts as continuation. Both encodings use the BOS
// policy (BOSAuto = the tokenizer's default special tokens, as the harness
// at EleutherAI/lm-evaluation-harness@4e7e0d47f does). An empty context is
// replaced by the prefix token (BOS, else EOS) and the continuation encoded
// alone, as the harness does.
func EncodeMC(tok Tokenizer, items []MCItem, policy BOSPolicy) ([]MCRequest, error) {
	if _, err := ParseBOSPolicy(string(policy)); err != nil {
		return nil, err
	}
	reqs := make([]MCRequest, len(items))
	for i, it := range items {
		r := MCRequest{Label: it.Label}
		if len(it.Choices) < 2 || it.Label < 0 || it.Label >= len(it.Choices) {
			return nil, fmt.Errorf("eval: item %d: label %d with %d choices", i+1, it.Label, len(it.Choices))
		}
		for j, ch := range it.Choices {
			ctxEnc, cont, err := encodePair(tok, it.Context, TargetDelimiter+ch, policy)
			if err != nil {
				return nil, fmt.Errorf("eval: item %d, choice %d: %w", i+1, j+1, err)
			}
			if j == 0 {
				r.Context = ctxEnc
			} else if !slicesEqual(ctxEnc, r.Context) {
				// encode(context) does not depend on the choice.
				return nil, fmt.Errorf("eval: item %d: the tokenizer is not deterministic", i+1)
			}
			r.Continuations = append(r.Continuations, cont)
			r.ChoiceChars = append(r.ChoiceChars, utf8.RuneCountInString(ch))
		}
		reqs[i] = r
	}
	return reqs, nil
}

func encodePair(tok Tokenizer, context, continuation string, policy BOSPolicy) ([]int, []int, error) {
	if context == "" {
		prefix := tok.BOS()
		if prefix < 0 {
			prefix = tok.EOS()
		}
		if prefix < 0 {
			return nil, nil, errors.New("empty context and the tokenizer has neither BOS nor EOS to start from")
		}
		cont, err := tok.Encode(continuation, false)
		if err != nil {
			return nil, nil, err
		}
		if len(cont) == 0 {
			return nil, nil, errors.New("the continuation encodes to no tokens")
		}
		return []int{prefix}, cont, nil
	}
	trimmed := strings.TrimRightFunc(context, unicode.IsSpace)
	continuation = context[len(trimmed):] + continuation
	context = trimmed
	whole, err := encodeSpecial(tok, context+continuation, policy)
	if err != nil {
		return nil, nil, err
	}
	ctxEnc, err := encodeSpecial(tok, context, policy)
	if err != nil {
		return nil, nil, err
	}
	if len(ctxEnc) == 0 {
		return nil, nil, errors.New("the context encodes to no tokens")
	}
	if len(whole) <= len(ctxEnc) {
		return nil, nil, errors.New("the continuation encodes to no tokens")
	}
	return ctxEnc, whole[len(ctxEnc):], nil
}

func slicesEqual(a, b []int) bool {
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

// MCResult is a multiple-choice accuracy measurement, lm-evaluation-harness's
// acc and acc_norm with its standard errors (mean_stderr: the sample standard
// deviation of the 0/1 scores over √n, i.e. sqrt(p(1−p)/(n−1))).
type MCResult struct {
	Acc           float64 `json:"acc"`
	AccStdErr     float64 `json:"acc_stderr"`
	AccNorm       float64 `json:"acc_norm"`
	AccNormStdErr float64 `json:"acc_norm_stderr"`
	Items         int     `json:"items"`
	ItemsPlanned  int     `json:"items_planned"`
	Complete      bool    `json:"complete"`
	// Choices scored from the item's shared prefix in the cache, and
	// choices that needed a full pass because context+continuation had to
	// be truncated on the left to fit the model.
	SharedPrefixChoices int `json:"shared_prefix_choices"`
	FullPassChoices     int `json:"full_pass_choices"`
	// TruncatedChoices had more continuation tokens than the model has
	// positions; only their last MaxContext tokens were scored.
	// lm-evaluation-harness refuses such items, so a result with
	// TruncatedChoices > 0 is not strictly comparable with it.
	TruncatedChoices int     `json:"truncated_choices"`
	EvaluatedTokens  int     `json:"evaluated_tokens"`
	Seconds          float64 `json:"seconds"`
	TokensPerSecond  float64 `json:"tokens_per_second"`
}

type itemStats struct {
	done         bool
	acc, accNorm bool
	shared, full int
	// truncatedConts counts continuations cut to the model's context.
	truncatedConts int
	evaluatedToks  int
	lls            []float64 // per choice
}

// MultipleChoice scores every request's choices by the summed log-likelihood
// of their continuation tokens and reports acc (argmax of the
// log-likelihoods is the label) and acc_norm (argmax of log-likelihood ÷
// choice length in characters), as lm-evaluation-harness's multiple_choice
// output type does. The context is run once per item and each choice
// continues from it in the cache (State.Truncate); a choice whose
// context+continuation exceeds the model's context is left-truncated like
// the harness does and scored in a full pass of its own (see
// MCResult.TruncatedChoices for continuations longer than the context).
//
// On context cancellation it returns the result for the items finished so
// far together with ctx.Err().
func MultipleChoice(ctx context.Context, s Scorer, reqs []MCRequest, opts Options) (*MCResult, error) {
	res, _, err := MultipleChoiceScores(ctx, s, reqs, opts)
	return res, err
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// meanStderr is lm-evaluation-harness's mean and mean_stderr
// (lm_eval/api/metrics.py): sample standard deviation (n−1) over √n; 0 for
// fewer than two values.
func meanStderr(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	mu := s / float64(len(xs))
	if len(xs) < 2 {
		return mu, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mu) * (x - mu)
	}
	return mu, math.Sqrt(ss/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
}

// scoreItem computes each choice's log-likelihood and the item's acc and
// acc_norm.
func scoreItem(st State, r *MCRequest, vocab, maxLen int, seq *[]int) (itemStats, error) {
	is := itemStats{done: true}
	lls := make([]float64, len(r.Continuations))
	nc := len(r.Context)
	fits := func(cont []int) bool { return maxLen <= 0 || nc+len(cont)-1 <= maxLen }
	// Choices that fit continue from the context in the cache; it is run
	// once, before any full pass would overwrite the cache.
	var lastCtx []float32 // logits after the context: predicts the first continuation token
	for j, cont := range r.Continuations {
		if !fits(cont) {
			continue
		}
		if lastCtx == nil {
			st.Truncate(0)
			logits, err := forward(st, r.Context, vocab)
			if err != nil {
				return is, err
			}
			lastCtx = append([]float32(nil), logits[(nc-1)*vocab:nc*vocab]...)
			is.evaluatedToks += nc
		}
		st.Truncate(nc)
		ll := logProb(lastCtx, cont[0])
		if len(cont) > 1 {
			logits, err := forward(st, cont[:len(cont)-1], vocab)
			if err != nil {
				return is, err
			}
			for k, tgt := range cont[1:] {
				ll += logProb(logits[k*vocab:(k+1)*vocab], tgt)
			}
			is.evaluatedToks += len(cont) - 1
		}
		lls[j] = ll
		is.shared++
	}
	for j, cont := range r.Continuations {
		if fits(cont) {
			continue
		}
		// Harness: inp = (context_enc + continuation_enc)[-(max_length+1):][:-1];
		// the continuation's logits are the last len(cont) rows.
		total := nc + len(cont)
		*seq = append(append((*seq)[:0], r.Context...), cont...)
		s := (*seq)[total-(maxLen+1):]
		st.Truncate(0)
		logits, err := forward(st, s[:len(s)-1], vocab)
		if err != nil {
			return is, err
		}
		// A continuation longer than the model's whole context (the
		// harness asserts this never happens) keeps its last maxLen tokens:
		// the earlier ones have no position left to be predicted from.
		scored := cont
		if len(cont) > len(s)-1 {
			scored = cont[len(cont)-(len(s)-1):]
			is.truncatedConts++
		}
		first := len(s) - 1 - len(scored)
		var ll float64
		for k, tgt := range scored {
			ll += logProb(logits[(first+k)*vocab:(first+k+1)*vocab], tgt)
		}
		lls[j] = ll
		is.full++
		is.evaluatedToks += len(s) - 1
	}
	is.lls = lls
	is.acc = npArgmax(lls) == r.Label
	norm := make([]float64, len(lls))
	for j, ll := range lls {
		norm[j] = ll / float64(r.ChoiceChars[j])
	}
	is.accNorm = npArgmax(norm) == r.Label
	return is, nil
}

func forward(st State, tokens []int, vocab int) ([]float32, error) {
	logits, err := st.Forward(tokens)
	if err != nil {
		return nil, err
	}
	if err := checkLogits(logits, len(tokens), vocab); err != nil {
		return nil, err
	}
	return logits, nil
}

// npArgmax is numpy.argmax: the first maximum, and a NaN counts as the
// maximum (the first NaN wins). An empty choice gives ll/0 = ±Inf or NaN in
// acc_norm, which the harness passes through numpy unchanged.
func npArgmax(xs []float64) int {
	best := 0
	for i, x := range xs {
		if math.IsNaN(x) {
			return i
		}
		if x > xs[best] {
			best = i
		}
	}
	return best
}
