package eval

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/model/demo"
)

// Three PIQA-style items scored by a context-free model over bytes: every
// token has logit 0 except 'b' with logit ln 2, so with V = 259 tokens,
// Z = 258 + 2 = 260, log p('b') = ln 2 − ln 260 and log p(other) = −ln 260.
// A choice's continuation is " " + choice, one token per byte, so a choice of
// L characters containing k b's has ll = −(L+1)·ln 260 + k·ln 2, and
// acc_norm divides by L:
//
//	item 1 (label 1): "aa"  ll = −3 ln 260        ll/2 = −8.34
//	                  "bbb" ll = −4 ln 260 + 3 ln 2 ll/3 = −6.72
//	      acc: argmax 0 ✗   acc_norm: argmax 1 ✓
//	item 2 (label 0): "b"   ll = −2 ln 260 + ln 2   ll/1 = −10.43
//	                  "cc"  ll = −3 ln 260        ll/2 = −8.34
//	      acc: argmax 0 ✓   acc_norm: argmax 1 ✗
//	item 3 (label 1): "bb"  ll = −3 ln 260 + 2 ln 2 ll/2 = −7.65
//	                  "c"   ll = −2 ln 260        ll/1 = −11.12
//	      acc: argmax 1 ✓   acc_norm: argmax 0 ✗
//
// acc = 2/3, acc_norm = 1/3, and both standard errors are
// sqrt(p(1−p)/(n−1)) = sqrt((2/9)/2) = 1/3.
func TestHandComputedPIQA(t *testing.T) {
	jsonl := `{"goal": "g", "sol1": "aa", "sol2": "bbb"}
{"goal": "h", "sol1": "b", "sol2": "cc"}
{"goal": "k", "sol1": "bb", "sol2": "c"}
`
	items, err := ParseMC("hand.jsonl", []byte(jsonl), []byte("1\n0\n1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if items[0].Context != "Question: g\nAnswer:" || items[2].Label != 1 {
		t.Fatalf("items %+v", items)
	}
	reqs, err := EncodeMC(byteTokenizer{}, items, BOSAuto)
	if err != nil {
		t.Fatal(err)
	}
	wantCtx := append([]int{256}, bytesOf("Question: g\nAnswer:")...)
	if !slicesEqual(reqs[0].Context, wantCtx) || !slicesEqual(reqs[0].Continuations[1], bytesOf(" bbb")) || reqs[0].ChoiceChars[1] != 3 {
		t.Fatalf("request %+v", reqs[0])
	}
	logits := make([]float32, 259)
	logits['b'] = float32(math.Ln2)
	f := unigramScorer(logits)
	f.record = true
	res, err := MultipleChoice(context.Background(), f, reqs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	third := 1.0 / 3
	if math.Abs(res.Acc-2*third) > 1e-15 || math.Abs(res.AccNorm-third) > 1e-15 ||
		math.Abs(res.AccStdErr-third) > 1e-15 || math.Abs(res.AccNormStdErr-third) > 1e-15 {
		t.Fatalf("acc %v ± %v, acc_norm %v ± %v; want 2/3 ± 1/3, 1/3 ± 1/3", res.Acc, res.AccStdErr, res.AccNorm, res.AccNormStdErr)
	}
	if res.Items != 3 || !res.Complete || res.SharedPrefixChoices != 6 || res.FullPassChoices != 0 {
		t.Fatalf("%+v", res)
	}
	// The context ran once per item (from position 0) and each choice
	// continued from it: 3 items × (1 context pass + 2 continuation passes).
	if len(f.calls) != 9 {
		t.Fatalf("%d forward passes, want 9", len(f.calls))
	}
	for i := 0; i < 9; i += 3 {
		if f.starts[i] != 0 || f.starts[i+1] != len(f.calls[i]) || f.starts[i+2] != len(f.calls[i]) {
			t.Fatalf("passes of item %d start at %v", i/3+1, f.starts[i:i+3])
		}
	}
}

func bytesOf(s string) []int {
	ids := make([]int, len(s))
	for i := range s {
		ids[i] = int(s[i])
	}
	return ids
}

// lm-evaluation-harness _encode_pair: trailing context whitespace moves to
// the continuation, and the continuation is whole[len(encode(context)):].
func TestEncodePairRules(t *testing.T) {
	ctx, cont, err := encodePair(byteTokenizer{}, "Q: x ", " y", BOSAuto)
	if err != nil || !slicesEqual(ctx, append([]int{256}, bytesOf("Q: x")...)) || !slicesEqual(cont, bytesOf("  y")) {
		t.Fatalf("whitespace move: %v %v %v", ctx, cont, err)
	}
	// ": " merges into one token across the boundary: encode("A:") = [A, :]
	// but encode("A: x") = [A, ": ", x], so the continuation is just [x].
	ctx, cont, _ = encodePair(byteTokenizer{merge: true}, "A:", " x", BOSOff)
	if !slicesEqual(ctx, bytesOf("A:")) || !slicesEqual(cont, []int{'x'}) {
		t.Fatalf("straddling token: %v %v", ctx, cont)
	}
	// Empty context: the prefix token, then the continuation alone.
	ctx, cont, _ = encodePair(byteTokenizer{}, "", " z", BOSAuto)
	if !slicesEqual(ctx, []int{256}) || !slicesEqual(cont, bytesOf(" z")) {
		t.Fatalf("empty context: %v %v", ctx, cont)
	}
	ctx, _, _ = encodePair(byteTokenizer{noBOS: true}, "", " z", BOSAuto)
	if !slicesEqual(ctx, []int{257}) {
		t.Fatalf("empty context without BOS: %v", ctx)
	}
	if _, _, err := encodePair(byteTokenizer{}, "abc", "", BOSAuto); err == nil {
		t.Fatal("empty continuation: no error")
	}
}

// naiveLL scores a choice the plain way: one full pass over
// (context+continuation)[-(maxLen+1):][:-1] from an empty cache.
func naiveLL(t *testing.T, s Scorer, ctx, cont []int, maxLen int) float64 {
	t.Helper()
	full := append(append([]int{}, ctx...), cont...)
	if maxLen > 0 && len(full) > maxLen+1 {
		full = full[len(full)-maxLen-1:]
	}
	st := s.NewState(len(full))
	logits, err := st.Forward(full[:len(full)-1])
	if err != nil {
		t.Fatal(err)
	}
	v := s.VocabSize()
	var ll float64
	for k := len(full) - len(cont); k < len(full); k++ {
		row := logits[(k-1)*v : k*v]
		m, _ := rowMax(row)
		var z float64
		for _, x := range row {
			z += math.Exp(float64(x - m))
		}
		ll += float64(row[full[k]]-m) - math.Log(z)
	}
	return ll
}

// The shared-prefix path (context once, choices continue in the cache) gives
// the same log-likelihoods as a full pass per choice, on the real demo model
// and real PIQA items.
func TestSharedPrefixMatchesFullPass(t *testing.T) {
	m, tok, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	items, err := PIQA()
	if err != nil {
		t.Fatal(err)
	}
	items = items[:6]
	reqs, err := EncodeMC(tok, items, BOSAuto)
	if err != nil {
		t.Fatal(err)
	}
	s := FromModel(m)
	var acc, accNorm float64
	for _, r := range reqs {
		lls := make([]float64, len(r.Continuations))
		norm := make([]float64, len(r.Continuations))
		for j, c := range r.Continuations {
			lls[j] = naiveLL(t, s, r.Context, c, 0)
			norm[j] = lls[j] / float64(r.ChoiceChars[j])
		}
		if npArgmax(lls) == r.Label {
			acc++
		}
		if npArgmax(norm) == r.Label {
			accNorm++
		}
		// Per choice, through the shared-prefix code path.
		st := s.NewState(512)
		var buf []int
		one := r
		is, err := scoreItem(st, &one, s.VocabSize(), 0, &buf)
		if err != nil {
			t.Fatal(err)
		}
		if is.shared != 2 || is.full != 0 {
			t.Fatalf("shared %d full %d", is.shared, is.full)
		}
		for j := range lls {
			if math.Abs(is.lls[j]-lls[j]) > 1e-4*math.Abs(lls[j]) {
				t.Errorf("choice %d: shared prefix %v, full pass %v", j, is.lls[j], lls[j])
			}
		}
	}
	res, err := MultipleChoice(context.Background(), s, reqs, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Acc != acc/6 || res.AccNorm != accNorm/6 {
		t.Fatalf("acc %v acc_norm %v; full passes give %v %v", res.Acc, res.AccNorm, acc/6, accNorm/6)
	}
}

// When context+continuation does not fit the model, the harness truncates
// on the left; such a choice gets a full pass of its own and the same score
// as the naive computation.
func TestTruncatedChoiceFallsBackToFullPass(t *testing.T) {
	f := successorScorer(300, 1)
	f.next = func(h []int) []float32 {
		// Context-dependent: the logit of the successor grows with the
		// history, so truncation changes the scores.
		row := make([]float32, 300)
		row[(h[len(h)-1]+1)%300] = float32(len(h)) / 4
		return row
	}
	f.maxCtx = 8
	reqs := []MCRequest{{
		Context:       []int{1, 2, 3, 4, 5},
		Continuations: [][]int{{6, 7}, {6, 7, 8, 9, 10, 11}, {9}},
		ChoiceChars:   []int{2, 6, 1},
		Label:         1,
	}}
	st := f.NewState(8)
	var buf []int
	is, err := scoreItem(st, &reqs[0], 300, 8, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if is.shared != 2 || is.full != 1 {
		t.Fatalf("shared %d, full %d", is.shared, is.full)
	}
	for j, c := range reqs[0].Continuations {
		if want := naiveLL(t, f, reqs[0].Context, c, 8); math.Abs(is.lls[j]-want) > 1e-12 {
			t.Errorf("choice %d: ll %v, naive %v", j, is.lls[j], want)
		}
	}
	res, err := MultipleChoice(context.Background(), f, reqs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lls []float64
	for _, c := range reqs[0].Continuations {
		lls = append(lls, naiveLL(t, f, reqs[0].Context, c, 8))
	}
	want := npArgmax(lls) == 1
	if (res.Acc == 1) != want || res.FullPassChoices != 1 || res.SharedPrefixChoices != 2 {
		t.Fatalf("%+v; naive lls %v", res, lls)
	}
	// A continuation longer than the model's whole context keeps its last
	// 8 tokens, each predicted from the one before: 11 tokens of which
	// 3…10 are scored after tokens 2…9.
	reqs[0].Continuations[1] = seq(0, 11)
	reqs[0].ChoiceChars[1] = 11
	is, err = scoreItem(st, &reqs[0], 300, 8, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := naiveLL(t, f, []int{2}, seq(3, 11), 8); is.truncatedConts != 1 || math.Abs(is.lls[1]-want) > 1e-12 {
		t.Fatalf("over-long continuation: ll %v (truncated %d), want %v", is.lls[1], is.truncatedConts, want)
	}
	res, err = MultipleChoice(context.Background(), f, reqs, Options{})
	if err != nil || res.TruncatedChoices != 1 {
		t.Fatalf("over-long continuation: %+v %v", res, err)
	}
}

func TestNpArgmax(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		xs   []float64
		want int
	}{
		{[]float64{1, 3, 3}, 1},
		{[]float64{-1, -1}, 0},
		{[]float64{-inf, -5}, 1},
		{[]float64{-2, nan, nan}, 1},
		{[]float64{inf, nan}, 1},
	} {
		if got := npArgmax(c.xs); got != c.want {
			t.Errorf("argmax %v = %d, want %d", c.xs, got, c.want)
		}
	}
}

func TestMultipleChoiceCancel(t *testing.T) {
	reqs := make([]MCRequest, 10)
	for i := range reqs {
		reqs[i] = MCRequest{Context: []int{1}, Continuations: [][]int{{2}, {3, 4}}, ChoiceChars: []int{1, 2}, Label: i % 2}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := MultipleChoice(ctx, uniformScorer(10), reqs, Options{Progress: func(done, _ int, _ float64) {
		if done == 4 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) || res.Items != 4 || res.Complete {
		t.Fatalf("%+v %v", res, err)
	}
	// Uniform model: the shorter continuation always wins acc → label 0
	// items (0, 2) right; acc_norm: −ln10 vs −ln10 → tie → 0.
	if res.Acc != 0.5 || res.AccNorm != 0.5 {
		t.Fatalf("acc %v acc_norm %v", res.Acc, res.AccNorm)
	}
}

func TestPIQABuiltin(t *testing.T) {
	items, err := PIQA()
	if err != nil {
		t.Fatal(err)
	}
	ones := 0
	for _, it := range items {
		ones += it.Label
		if len(it.Choices) != 2 {
			t.Fatalf("%d choices", len(it.Choices))
		}
	}
	// PROVENANCE.md: 910 zeros and 928 ones.
	if len(items) != 1838 || ones != 928 {
		t.Fatalf("%d items, %d ones", len(items), ones)
	}
	if items[0].Context != "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:" ||
		items[1].Choices[0] != "replace drawer with bobby pin " {
		t.Fatalf("items %q %q", items[0].Context, items[1].Choices)
	}
}

func TestParseMC(t *testing.T) {
	items, err := ParseMC("x.jsonl", []byte(`{"context": "Once upon", "choices": ["a time", "b", "c"], "label": 2}
{"question": "Q?", "choices": ["yes", "no"], "label": "1"}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if items[0].Context != "Once upon" || len(items[0].Choices) != 3 || items[0].Label != 2 ||
		items[1].Context != "Question: Q?\nAnswer:" || items[1].Label != 1 {
		t.Fatalf("%+v", items)
	}
	for _, c := range []struct{ data, labels, msg string }{
		{`{"goal": "g", "sol1": "a"}`, "0\n", "at least two"},
		{`{"goal": "g", "sol1": "a", "sol2": "b"}`, "", "no label"},
		{`{"goal": "g", "sol1": "a", "sol2": "b", "label": 2}`, "", "out of range"},
		{`{"goal": "g", "sol1": "a", "sol2": "b", "label": 0}`, "1\n", "inline"},
		{`{"goal": "g", "sol1": "a", "sol2": "b"}`, "0\n1\n", "2 labels for 1 items"},
		{`{"goal": "g", "sol1": "a", "sol2": "b"}`, "x\n", "not an integer"},
		{`{"sol1": "a", "sol2": "b", "label": 0}`, "", `no "context"`},
		{`{"goal": 3, "sol1": "a", "sol2": "b", "label": 0}`, "", "not a string"},
		{`{"goal": "g", "choices": "ab", "label": 0}`, "", "array of strings"},
		{`{"goal": "g", "sol1": "a", "sol2": "b", "label": 0.5}`, "", "not an integer"},
		{`{"goal": "g", "sol1": "a", "sol2": "b", "label": [0]}`, "", "number or a numeric string"},
		{`[1, 2]`, "", "not a JSON object"},
		{``, "", "no JSON lines"},
	} {
		var labels []byte
		if c.labels != "" {
			labels = []byte(c.labels)
		}
		_, err := ParseMC("x.jsonl", []byte(c.data), labels)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s / %q: %v, want %q", c.data, c.labels, err, c.msg)
		}
	}
}

func TestReadMCFileFindsLabels(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dev.jsonl")
	if err := os.WriteFile(path, []byte(`{"goal": "g", "sol1": "a", "sol2": "b"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMCFile(path); err == nil || !strings.Contains(err.Error(), "dev-labels.lst") {
		t.Fatalf("no labels: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dev-labels.lst"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := ReadMCFile(path)
	if err != nil || items[0].Label != 1 {
		t.Fatalf("%+v %v", items, err)
	}
}

func FuzzParseMC(f *testing.F) {
	f.Add([]byte(`{"goal": "g", "sol1": "a", "sol2": "b", "label": 1}`), []byte(""))
	f.Add([]byte(`{"context": "c", "choices": ["x", "y", "z"]}`), []byte("2\n"))
	f.Add([]byte("{\"question\": \"q\", \"sol1\": \"\", \"sol2\": \"b\"}\n\n"), []byte("0"))
	f.Fuzz(func(t *testing.T, data, labels []byte) {
		var l []byte
		if len(labels) > 0 {
			l = labels
		}
		items, err := ParseMC("f.jsonl", data, l)
		if err != nil {
			return
		}
		for _, it := range items {
			if len(it.Choices) < 2 || it.Label < 0 || it.Label >= len(it.Choices) {
				t.Fatalf("invalid item accepted: %+v", it)
			}
		}
		if _, err := EncodeMC(byteTokenizer{}, items, BOSAuto); err != nil && !strings.Contains(err.Error(), "no tokens") {
			t.Fatalf("encode: %v", err)
		}
	})
}
