package compare

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/model/demo"
)

func TestSamplesJSONRoundTrip(t *testing.T) {
	s := Samples{NLL: Floats{1.5, 2.25, math.Pi}, Acc: Bools{true, false, true}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back Samples
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.NLL[0] != 1.5 || back.NLL[1] != 2.25 || back.NLL[2] != float64(float32(math.Pi)) || len(back.Acc) != 3 || back.Acc[1] || !back.Acc[2] || back.KL != nil {
		t.Fatalf("round trip: %+v from %s", back, b)
	}
	// Round makes a computed row equal to its JSON form.
	if r := (Floats{math.Pi}).Round(); r[0] != back.NLL[2] {
		t.Fatal("Round differs from the JSON form")
	}
	for _, bad := range []string{`{"nll":"***"}`, `{"nll":"AAA="}`, `{"acc":"012"}`, `{"acc":5}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// report builds a two-dataset report with a baseline and a row whose
// samples are given.
func report(base, row Samples) *Report {
	mk := func(spec RowSpec, s Samples) Row {
		r := Row{RowSpec: spec, ID: spec.ID(), Complete: true}
		var nll, kl float64
		for i := range s.NLL {
			nll += s.NLL[i]
			kl += s.KL[i]
		}
		n := float64(len(s.NLL))
		var acc float64
		for _, a := range s.Acc {
			if a {
				acc++
			}
		}
		r.Results = []DatasetResult{
			{Dataset: "text", PPL: math.Exp(nll / n), MeanNLL: nll / n, KL: kl / n, Samples: Samples{NLL: s.NLL, KL: s.KL}},
			{Dataset: "mc", Acc: acc / float64(len(s.Acc)), AccNorm: acc / float64(len(s.Acc)), Samples: Samples{Acc: s.Acc, AccNorm: s.Acc}},
		}
		return r
	}
	return &Report{
		Schema:   Schema,
		Settings: Settings{Methods: []string{"awq", "ttq"}, Baseline: "awq", Calib: "c"},
		Datasets: []DatasetInfo{{Name: "text", Kind: KindPerplexity}, {Name: "mc", Kind: KindMultipleChoice}},
		Rows: []Row{
			mk(RowSpec{Method: "awq", Bits: 4, Group: 128, Calib: "c"}, base),
			mk(RowSpec{Method: "ttq", Bits: 4, Group: 128}, row),
		},
	}
}

func TestDeltasAndCheck(t *testing.T) {
	base := Samples{NLL: Floats{2, 3, 4, 5}, KL: Floats{0.1, 0.1, 0.1, 0.1}, Acc: Bools{true, true, true, true, true, true, true, false}}
	// Small consistent improvement (within noise? no: constant shift
	// means zero paired s.e., so it is significant) and a large loss of
	// accuracy (6 items lost, none gained: McNemar p = 2/64).
	row := Samples{NLL: Floats{1.9, 3.1, 3.8, 5.2}, KL: Floats{0.2, 0.3, 0.2, 0.3}, Acc: Bools{false, false, false, false, false, false, true, false}}
	rep := report(base, row)
	ComputeDeltas(rep, DefaultZ)
	d := rep.Rows[1].Delta
	if rep.Rows[0].Delta != nil || d == nil || d.Against != "awq-w4-g128@c" {
		t.Fatalf("deltas: %+v / %+v", rep.Rows[0].Delta, d)
	}
	// NLL differences (−0.1, 0.1, −0.2, 0.2): mean 0, within noise.
	if s := d.Stat("text", "ppl"); s == nil || math.Abs(s.TestDiff) > 1e-12 || !s.WithinNoise {
		t.Fatalf("ppl delta %+v", s)
	}
	// KL differences (0.1, 0.2, 0.1, 0.2): mean 0.15, s.e. √(1/300)/2.
	if s := d.Stat("text", "kl"); s == nil || math.Abs(s.TestDiff-0.15) > 1e-12 || math.Abs(s.StdErr-math.Sqrt(1.0/300)/2) > 1e-12 || s.WithinNoise {
		t.Fatalf("kl delta %+v", s)
	}
	if s := d.Stat("mc", "acc"); s == nil || math.Abs(*s.P-2.0/64) > 1e-12 || s.WithinNoise || math.Abs(s.Diff+0.75) > 1e-12 {
		t.Fatalf("acc delta %+v", s)
	}

	// The gate: the same report passes against itself; the row with
	// more KL and fewer right answers fails on exactly those metrics.
	regs, err := Check(rep, rep, DefaultTolerance())
	if err != nil || len(regs) != 0 {
		t.Fatalf("self-check: %v %v", regs, err)
	}
	cur := report(base, base)
	cur.Rows[1].Results = rep.Rows[1].Results
	old := report(base, base)
	regs, err = Check(old, cur, DefaultTolerance())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range regs {
		got[r.Row+" "+r.Metric] = true
	}
	if len(regs) != 3 || !got["ttq-w4-g128 kl"] || !got["ttq-w4-g128 acc"] || !got["ttq-w4-g128 acc_norm"] {
		t.Fatalf("regressions %v", regs)
	}
	// A perplexity regression: every token 0.01 nats worse.
	worse := Samples{NLL: Floats{2.01, 3.01, 4.01, 5.01}, KL: base.KL, Acc: base.Acc}
	cur = report(base, worse)
	regs, _ = Check(old, cur, DefaultTolerance())
	if len(regs) != 1 || regs[0].Metric != "ppl" || math.Abs(regs[0].Diff-0.01) > 1e-12 {
		t.Fatalf("ppl regression: %v", regs)
	}
	// ... which a 0.02-nat floor forgives.
	tol := DefaultTolerance()
	tol.MinNLL = 0.02
	if regs, _ = Check(old, cur, tol); len(regs) != 0 {
		t.Fatalf("with floor: %v", regs)
	}
	// Unpairable data is an error, not a pass.
	cur.Rows[1].Results[0].Samples.NLL = Floats{1}
	if _, err := Check(old, cur, tol); err == nil {
		t.Fatal("mismatched samples accepted")
	}
	cur.Rows = cur.Rows[:1]
	if _, err := Check(old, cur, tol); err == nil {
		t.Fatal("missing row accepted")
	}
}

func TestMergeRefusesMismatches(t *testing.T) {
	s := Samples{NLL: Floats{1, 2}, KL: Floats{0, 0}, Acc: Bools{true, false}}
	a, b := report(s, s), report(s, s)
	a.Rows, b.Rows = a.Rows[:1], b.Rows[1:]
	m, err := Merge([]*Report{a, b}, DefaultZ)
	if err != nil || len(m.Rows) != 2 || m.Rows[1].Delta == nil {
		t.Fatalf("merge: %+v %v", m, err)
	}
	c := report(s, s)
	c.Settings.Baseline = "ttq"
	if _, err := Merge([]*Report{a, c}, DefaultZ); err == nil {
		t.Fatal("different settings merged")
	}
	d := report(s, s)
	d.Rows[0].Fingerprint = "other"
	if _, err := Merge([]*Report{a, d}, DefaultZ); err == nil {
		t.Fatal("conflicting rows merged")
	}
}

func TestCacheRoundTrip(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	r := report(Samples{NLL: Floats{1}, KL: Floats{0}, Acc: Bools{true}}, Samples{NLL: Floats{1}, KL: Floats{0}, Acc: Bools{true}}).Rows[0]
	r.Fingerprint = Fingerprint("x", 1)
	if _, ok := c.Get(r.Fingerprint); ok {
		t.Fatal("hit in an empty cache")
	}
	if err := c.Put(r); err != nil {
		t.Fatal(err)
	}
	got, ok := c.Get(r.Fingerprint)
	if !ok || got.ID != r.ID || got.Results[0].Samples.NLL[0] != 1 {
		t.Fatalf("cache returned %+v %v", got, ok)
	}
	// A damaged entry is a miss.
	if err := os.WriteFile(filepath.Join(c.Dir, r.Fingerprint[:2], r.Fingerprint+".json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(r.Fingerprint); ok {
		t.Fatal("damaged entry returned")
	}
	// Non-finite rows are refused by Put, and one planted in the cache
	// (its samples are base64, so JSON does not stop it) reads as a miss.
	nan := r
	nan.Results = append([]DatasetResult(nil), r.Results...)
	nan.Results[0].Samples.NLL = Floats{math.NaN()}
	if err := c.Put(nan); err == nil || !strings.Contains(err.Error(), "nll sample 0 is NaN") {
		t.Fatalf("Put of a NaN row: %v", err)
	}
	b, err := json.Marshal(nan)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, r.Fingerprint[:2], r.Fingerprint+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(r.Fingerprint); ok {
		t.Fatal("NaN entry returned")
	}
	rep := report(Samples{NLL: Floats{1}, KL: Floats{0}, Acc: Bools{true}}, Samples{NLL: Floats{1}, KL: Floats{0}, Acc: Bools{true}})
	rep.Rows[0].Results[0].Samples.NLL = Floats{math.Inf(1)}
	rb, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(rb); err == nil || !strings.Contains(err.Error(), "+Inf") {
		t.Fatalf("Parse of a report with an Inf sample: %v", err)
	}
	if Fingerprint("x", 1) == Fingerprint("x", 2) || Fingerprint("ab", "c") == Fingerprint("a", "bc") {
		t.Fatal("fingerprints collide")
	}
}

// TestLogitCacheReplays: windows come back identical from the cache, a
// replayed context can still be continued, and KL against the cached
// reference equals KL against the model itself.
func TestLogitCacheReplays(t *testing.T) {
	m, _, err := demo.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := eval.FromModel(m)
	c := NewLogitCache(s, 1<<30)
	win := []int{1, 40, 300, 12, 7, 99, 5, 250}
	st := c.NewState(16)
	a, err := st.Forward(win)
	if err != nil {
		t.Fatal(err)
	}
	a = append([]float32(nil), a...)
	st2 := c.NewState(16)
	b, err := st2.Forward(win)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("replayed logits differ")
		}
	}
	// Continue the replayed sequence after truncation.
	st2.Truncate(4)
	got, err := st2.Forward([]int{77})
	if err != nil {
		t.Fatal(err)
	}
	direct := s.NewState(16)
	if _, err := direct.Forward(win[:4]); err != nil {
		t.Fatal(err)
	}
	want, _ := direct.Forward([]int{77})
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("continuation logit %d: %v, want %v", i, got[i], want[i])
		}
	}
	w, err := eval.MakeWindows(append(win, win...), eval.ProtocolGPTQ, 8, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	r1, _, err := eval.PerplexityScores(context.Background(), s, w, c, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r1.KL == nil || r1.KL.Mean != 0 {
		t.Fatalf("model against its cached self: KL %+v", r1.KL)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"schema":"ttq.compare/v1","rows":[{"method":"rtn","bits":4,"group":128,"id":"rtn-w4-g128","results":[{"dataset":"w","samples":{"nll":"AACAPw==","acc":"01"}}]}]}`))
	f.Add([]byte(`{"schema":"ttq.compare/v1","rows":[{"method":"fp","id":"x"}]}`))
	f.Add([]byte(`{"schema":"other"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Parse(data)
		if err != nil {
			return
		}
		for _, r := range rep.Rows {
			if r.ID != r.RowSpec.ID() {
				t.Fatalf("row %q accepted with id %q", r.RowSpec.ID(), r.ID)
			}
		}
		// Whatever parses can be rendered and re-checked without panics.
		ComputeDeltas(rep, DefaultZ)
		rep.Table()
		rep.DomainMatrix()
		_, _ = Check(rep, rep, DefaultTolerance())
	})
}

// With calibration domains, a row with no calibration of its own gets a
// delta against every static row at its bits and group — one per domain —
// with the paired statistics of Delta (hand-computed below), and only then.
func TestStaticDeltas(t *testing.T) {
	onGo := Samples{NLL: Floats{2, 3, 4, 5}, KL: Floats{0.1, 0.1, 0.1, 0.1}, Acc: Bools{true, false}}
	onWiki := Samples{NLL: Floats{1.5, 2.5, 3.5, 4.5}, KL: Floats{0.1, 0.1, 0.1, 0.1}, Acc: Bools{true, false}}
	tq := Samples{NLL: Floats{1.9, 2.9, 3.9, 4.9}, KL: Floats{0.1, 0.1, 0.1, 0.1}, Acc: Bools{true, false}}
	rep := report(onGo, tq)
	rep.Rows[0].Calib, rep.Rows[0].ID = "go", "awq-w4-g128@go"
	wiki := report(onWiki, onWiki).Rows[0]
	wiki.Calib, wiki.ID = "wikipedia", "awq-w4-g128@wikipedia"
	other := report(onWiki, onWiki).Rows[0]
	other.Bits, other.Calib, other.ID = 3, "wikipedia", "awq-w3-g128@wikipedia"
	rep.Rows = append(rep.Rows, wiki, other)

	ComputeDeltas(rep, DefaultZ)
	if rep.Rows[1].StaticDeltas != nil {
		t.Fatal("static deltas without calibration domains")
	}
	rep.Settings.CalibDomains = []string{"go", "wikipedia"}
	ComputeDeltas(rep, DefaultZ)
	sd := rep.Rows[1].StaticDeltas
	if len(sd) != 2 || sd[0].Against != "awq-w4-g128@go" || sd[1].Against != "awq-w4-g128@wikipedia" {
		t.Fatalf("static deltas %+v", sd)
	}
	for _, r := range []int{0, 2, 3} {
		if rep.Rows[r].StaticDeltas != nil {
			t.Fatalf("row %s has static deltas", rep.Rows[r].ID)
		}
	}
	// Against go: every token 0.1 nats better, zero paired s.e.: a
	// significant gain. Against wikipedia: every token 0.4 nats worse.
	if s := sd[0].Stat("text", "ppl"); s == nil || math.Abs(s.TestDiff+0.1) > 1e-12 || s.WithinNoise {
		t.Fatalf("vs go: %+v", s)
	}
	if s := sd[1].Stat("text", "ppl"); s == nil || math.Abs(s.TestDiff-0.4) > 1e-12 || s.WithinNoise {
		t.Fatalf("vs wikipedia: %+v", s)
	}
	h, rows := rep.StaticMatrix()
	if len(h) != 3 || len(rows) != 2 || rows[0][0] != "ttq-w4-g128" || rows[1][1] != "awq-w4-g128@wikipedia" {
		t.Fatalf("static matrix %v %v", h, rows)
	}
}

// A test-time row meets every static row whose bits/weight lie within the
// tolerance, whatever their nominal bits and group, with Delta's paired
// statistics; static rows and a zero tolerance get no such lineup.
func TestMatchedBits(t *testing.T) {
	a4 := Samples{NLL: Floats{2, 3, 4, 5}, KL: Floats{0.1, 0.1, 0.1, 0.1}, Acc: Bools{true, false}}
	tq := Samples{NLL: Floats{2.2, 3.2, 4.2, 5.2}, KL: Floats{0.1, 0.1, 0.1, 0.1}, Acc: Bools{true, false}}
	rep := report(a4, tq)
	// ttq-w3-g32 at 4.36 b/w; awq-w4-g128 4.58 (in), rtn-w4-g32 5.16
	// (out), rtn-w3-g32 4.36 (in), fp 32 (never).
	rep.Rows[1].RowSpec = RowSpec{Method: "ttq:search", Bits: 3, Group: 32}
	rep.Rows[1].ID, rep.Rows[1].BitsPerWeight = rep.Rows[1].RowSpec.ID(), 4.36
	rep.Rows[0].BitsPerWeight = 4.58
	far := report(a4, a4).Rows[0]
	far.RowSpec, far.BitsPerWeight = RowSpec{Method: "rtn", Bits: 4, Group: 32}, 5.16
	same := report(a4, a4).Rows[0]
	same.RowSpec, same.BitsPerWeight = RowSpec{Method: "rtn", Bits: 3, Group: 32}, 4.36
	fp := report(a4, a4).Rows[0]
	fp.RowSpec, fp.BitsPerWeight = RowSpec{Method: "fp"}, 32
	for _, r := range []*Row{&far, &same, &fp} {
		r.ID = r.RowSpec.ID()
	}
	rep.Rows = append(rep.Rows, far, same, fp)

	ComputeDeltas(rep, DefaultZ)
	if rep.Rows[1].MatchedBits != nil {
		t.Fatal("matched-bits lineup at tolerance 0")
	}
	rep.Settings.MatchedBitsTol = 0.25
	ComputeDeltas(rep, DefaultZ)
	mb := rep.Rows[1].MatchedBits
	if len(mb) != 2 || mb[0].Against != "awq-w4-g128@c" || mb[1].Against != "rtn-w3-g32" {
		t.Fatalf("matched bits %+v", mb)
	}
	for _, r := range []int{0, 2, 3, 4} {
		if rep.Rows[r].MatchedBits != nil {
			t.Fatalf("static row %s has a matched-bits lineup", rep.Rows[r].ID)
		}
	}
	// Every token 0.2 nats worse than awq: significant, Δ = the PPL gap.
	s := mb[0].Stat("text", "ppl")
	if s == nil || math.Abs(s.TestDiff-0.2) > 1e-6 || s.WithinNoise || s.Diff != rep.Rows[1].Result("text").PPL-rep.Rows[0].Result("text").PPL {
		t.Fatalf("vs awq: %+v", s)
	}
	h, rows := rep.MatchedBitsMatrix()
	if len(h) != 5 || len(rows) != 2 || rows[0][0] != "ttq:search-w3-g32" || rows[0][1] != "4.360" || rows[0][3] != "4.580" || !strings.HasPrefix(rows[0][4], "+") {
		t.Fatalf("matched-bits matrix %v %v", h, rows)
	}
	if secs := rep.Sections(); len(secs) != 1 || !strings.Contains(secs[0].Title, "±0.25 b/w") {
		t.Fatalf("sections %+v", secs)
	}
}

// bits/weight counts every stored number: for ttq with a rank-2 low-rank
// part at 4-bit g32 (f16 scales, 4-bit zeros) on the demo, by hand per
// layer: q 64×64, k and v 32×64, o 64×64, gate and up 172×64 (in = 64:
// 32 code bytes + 2 scales × 2 B + 1 zero byte = 296 bits a row), down
// 64×172 (6 groups, the last ragged: 86 + 12 + 3 bytes = 808 bits a row),
// and r·(in + out) float32 numbers per matrix.
func TestBitsPerWeightCountsLowRank(t *testing.T) {
	rows64 := 64 + 32 + 32 + 64 + 172 + 172
	weights := 2*64*64 + 2*32*64 + 3*172*64
	lowRank := 2 * 32 * (128 + 96 + 96 + 128 + 3*236)
	want := float64(rows64*296+64*808+lowRank) / float64(weights)

	o := DefaultOptions()
	o.Knobs.TTQRank = 2
	sm, err := resolveModel(&o)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.prepareRow(context.Background(), sm, RowSpec{Method: "ttq", Bits: 4, Group: 32}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if math.Abs(p.BitsPerWeight-want) > 1e-9 {
		t.Fatalf("bits/weight %v, by hand %v (%v without the low-rank part)", p.BitsPerWeight, want, float64(rows64*296+64*808)/float64(weights))
	}
}

// A TTQ variant's rows (ttq:PRESET) are test-time rows to the plots too.
func TestVariantRowsAreTestTime(t *testing.T) {
	r := Row{RowSpec: RowSpec{Method: "ttq:search", Bits: 3, Group: 128}}
	if !IsTestTime(r.Method) {
		t.Fatal("ttq:search is not a test-time row")
	}
}
