package compare

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Schema names the report format; a reader refuses any other.
const Schema = "ttq.compare/v1"

// DefaultZ is how many paired standard errors a difference must exceed to
// count as more than noise (≈ a two-sided 5 % test).
const DefaultZ = 2.0

// Report is one comparison: the settings that reproduce it, the evaluated
// data, and one row per method × bits (× calibration domain).
type Report struct {
	Schema     string    `json:"schema"`
	TTQVersion string    `json:"ttq_version"`
	Model      ModelInfo `json:"model"`
	Settings   Settings  `json:"settings"`
	// Datasets are the evaluations every row ran, in column order.
	Datasets []DatasetInfo `json:"datasets"`
	Rows     []Row         `json:"rows"`
	// Shard is "i/n" when this report holds only a slice of the rows.
	Shard       string          `json:"shard,omitempty"`
	Interrupted bool            `json:"interrupted,omitempty"`
	WallSeconds float64         `json:"wall_seconds"`
	Threads     int             `json:"threads"`
	CPUFeatures map[string]bool `json:"cpu_features,omitempty"`
}

// ModelInfo identifies the compared model.
type ModelInfo struct {
	// Name is a directory or a builtin: name; it is how --check reloads it.
	Name            string `json:"name"`
	SHA256          string `json:"sha256"`
	TokenizerSHA256 string `json:"tokenizer_sha256"`
	Params          int64  `json:"params"`
	// Synthetic marks stress models that were not trained as they are
	// (planted outliers): their numbers say how methods cope with
	// outlier channels, not how good a real model is.
	Synthetic bool            `json:"synthetic,omitempty"`
	Planted   json.RawMessage `json:"planted,omitempty"`
}

// Settings are the command-line choices behind a report; with ModelInfo they
// reproduce every row.
type Settings struct {
	Methods []string `json:"methods"`
	Bits    []int    `json:"bits"`
	Group   int      `json:"group"`
	// Groups, when more than one group was compared, lists them all
	// (Group is then the first).
	Groups       []int    `json:"groups,omitempty"`
	Baseline     string   `json:"baseline"`
	Datasets     []string `json:"datasets"`
	Calib        string   `json:"calib"`
	CalibDomains []string `json:"calib_domains,omitempty"`
	EvalDomains  []string `json:"eval_domains,omitempty"`
	Protocol     string   `json:"protocol"`
	Ctx          int      `json:"ctx"`
	BOS          string   `json:"bos"`
	MaxWindows   int      `json:"max_windows"`
	MaxItems     int      `json:"max_items"`
	// MatchedBitsTol is the largest bits/weight difference at which a
	// test-time row is lined up against a static row (Row.MatchedBits);
	// 0: no such lineup.
	MatchedBitsTol float64 `json:"matched_bits_tol,omitempty"`
	// MethodFlags holds every other method knob (--grid, --nsamples,
	// --ttq-alpha, ...) as the flag's string value.
	MethodFlags map[string]string `json:"method_flags"`
	// PlantOutliers is "K:N" when the model was given planted outliers.
	PlantOutliers string `json:"plant_outliers,omitempty"`
	PlantSeed     uint64 `json:"plant_seed,omitempty"`
}

// DatasetKind is what a dataset measures.
type DatasetKind string

const (
	KindPerplexity     DatasetKind = "perplexity"
	KindMultipleChoice DatasetKind = "multiple_choice"
)

// DatasetInfo describes one evaluation exactly enough to key results by it.
type DatasetInfo struct {
	Name   string      `json:"name"`
	Kind   DatasetKind `json:"kind"`
	Source string      `json:"source"`
	SHA256 string      `json:"sha256"`
	// Perplexity: protocol, window, windows evaluated (of those in the
	// text), scored tokens per row.
	Protocol         string `json:"protocol,omitempty"`
	Ctx              int    `json:"ctx,omitempty"`
	Windows          int    `json:"windows,omitempty"`
	WindowsAvailable int    `json:"windows_available,omitempty"`
	ScoredTokens     int    `json:"scored_tokens,omitempty"`
	// Multiple choice: items evaluated of those in the set.
	Items          int    `json:"items,omitempty"`
	ItemsAvailable int    `json:"items_available,omitempty"`
	BOS            string `json:"bos"`
	// Domain marks eval-domain datasets of the domain-shift matrix.
	Domain bool `json:"domain,omitempty"`
}

// RowSpec is what a row computes.
type RowSpec struct {
	Method string `json:"method"`
	// Bits and Group are 0 for the full-precision row.
	Bits  int `json:"bits,omitempty"`
	Group int `json:"group,omitempty"`
	// Calib is the calibration source of static data-driven methods
	// (awq, gptq); empty for the others.
	Calib string `json:"calib,omitempty"`
}

// ID is the row's name in tables, deltas and regressions.
func (s RowSpec) ID() string {
	if s.Method == "fp" {
		return "fp"
	}
	g := "g" + strconv.Itoa(s.Group)
	if s.Group < 0 {
		g = "perrow"
	} else if s.Group == 0 {
		g = "gdefault"
	}
	id := fmt.Sprintf("%s-w%d-%s", s.Method, s.Bits, g)
	if s.Calib != "" {
		id += "@" + s.Calib
	}
	return id
}

// Row is one method's results.
type Row struct {
	RowSpec
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	// Format is the storage format ("int4-g128-minmax-f16"); empty for fp.
	Format string `json:"format,omitempty"`
	// BitsPerWeight counts scales and zero points over the quantized
	// matrices (for fp: the stored element width).
	BitsPerWeight float64 `json:"bits_per_weight"`
	// ModelBytes is the resident size of all weights as the model holds
	// them (a test-time method keeps the full-precision weights).
	ModelBytes   int64   `json:"model_bytes"`
	QuantSeconds float64 `json:"quant_seconds"`
	// TTQOverhead is the time spent calibrating per request as a
	// fraction of the row's evaluation time (test-time methods only).
	TTQOverhead     *float64        `json:"ttq_overhead,omitempty"`
	TTQCalibrations int             `json:"ttq_calibrations,omitempty"`
	MethodResult    json.RawMessage `json:"method_result,omitempty"`
	// Results per dataset name, in the report's dataset order.
	Results  []DatasetResult `json:"results"`
	Complete bool            `json:"complete"`
	// Cached rows were read from the result cache, not computed.
	Cached bool `json:"cached,omitempty"`
	// Delta compares this row with its baseline row; computed from the
	// samples whenever a report is assembled.
	Delta *Delta `json:"delta,omitempty"`
	// StaticDeltas, for a quantized row with no calibration of its own
	// (test-time ttq, data-free rtn) in a report with calibration domains,
	// compare it with every static row at the same bits and group, one per
	// calibration domain: the comparison test-time quantization exists for
	// (issue #13), which the single-baseline Delta cannot make.
	StaticDeltas []Delta `json:"static_deltas,omitempty"`
	// MatchedBits, for a test-time row, compares it with every static row
	// (rtn, awq, gptq at any bits and group) whose bits per weight lie
	// within Settings.MatchedBitsTol of its own: accounting at matched
	// storage, where a variant that stores more (low-rank factors, a
	// finer group) meets the static rows that spend the same bits.
	MatchedBits []Delta `json:"matched_bits,omitempty"`
}

// DatasetResult is a row's measurement on one dataset.
type DatasetResult struct {
	Dataset string `json:"dataset"`
	// Perplexity.
	PPL           float64 `json:"ppl,omitempty"`
	PPLStdErr     float64 `json:"ppl_stderr,omitempty"`
	MeanNLL       float64 `json:"mean_nll,omitempty"`
	MeanNLLStdErr float64 `json:"mean_nll_stderr,omitempty"`
	// KL(fp ‖ row), mean over scored tokens, nats; 0 for fp itself.
	KL       float64 `json:"kl"`
	KLStdErr float64 `json:"kl_stderr"`
	Tokens   int     `json:"tokens,omitempty"`
	// Multiple choice.
	Acc           float64 `json:"acc,omitempty"`
	AccStdErr     float64 `json:"acc_stderr,omitempty"`
	AccNorm       float64 `json:"acc_norm,omitempty"`
	AccNormStdErr float64 `json:"acc_norm_stderr,omitempty"`
	Items         int     `json:"items,omitempty"`

	Seconds         float64 `json:"seconds"`
	TokensPerSecond float64 `json:"tokens_per_second"`
	// Samples are the per-token / per-item scores behind the numbers, so
	// that merged shards and regression checks compare rows pairwise.
	Samples Samples `json:"samples"`
}

// Samples are paired-statistics inputs, stored compactly.
type Samples struct {
	NLL     Floats `json:"nll,omitempty"`
	KL      Floats `json:"kl,omitempty"`
	Acc     Bools  `json:"acc,omitempty"`
	AccNorm Bools  `json:"acc_norm,omitempty"`
}

// Floats is a float64 slice stored in JSON as base64 of little-endian
// float32: per-token scores need ~7 significant digits, not 17, and a run
// has tens of thousands of them.
type Floats []float64

func (f Floats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 4*len(f))
	for i, x := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(x)))
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(b))
}

func (f *Floats) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("compare: samples: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("compare: samples: %w", err)
	}
	if len(b)%4 != 0 {
		return fmt.Errorf("compare: samples: %d bytes is not a whole number of float32s", len(b))
	}
	out := make(Floats, len(b)/4)
	for i := range out {
		out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	*f = out
	return nil
}

// Round returns the values as they survive a JSON round trip, so that a
// freshly computed row and one read back from JSON give identical
// statistics.
func (f Floats) Round() Floats {
	out := make(Floats, len(f))
	for i, x := range f {
		out[i] = float64(float32(x))
	}
	return out
}

// Bools is a 0/1 outcome vector stored as a string of '0' and '1'.
type Bools []bool

func (b Bools) MarshalJSON() ([]byte, error) {
	s := make([]byte, len(b))
	for i, v := range b {
		s[i] = '0'
		if v {
			s[i] = '1'
		}
	}
	return json.Marshal(string(s))
}

func (b *Bools) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("compare: samples: %w", err)
	}
	out := make(Bools, len(s))
	for i := range len(s) {
		switch s[i] {
		case '0':
		case '1':
			out[i] = true
		default:
			return fmt.Errorf("compare: samples: outcome %q is not 0 or 1", s[i])
		}
	}
	*b = out
	return nil
}

// Delta is a row minus its baseline row, per dataset.
type Delta struct {
	// Against is the baseline row's ID.
	Against string      `json:"against"`
	Metrics []DeltaStat `json:"metrics"`
}

// DeltaStat is one metric's difference with its paired uncertainty.
type DeltaStat struct {
	Dataset string `json:"dataset"`
	// Metric is ppl, kl, acc or acc_norm.
	Metric string `json:"metric"`
	// Diff is row − baseline in the metric's own unit (PPL points,
	// nats, accuracy fraction).
	Diff float64 `json:"diff"`
	// TestDiff ± StdErr is the paired quantity the noise judgement rests
	// on: the mean per-token NLL difference for ppl, the mean per-token
	// KL difference for kl, the accuracy difference for acc/acc_norm.
	TestDiff float64 `json:"test_diff"`
	StdErr   float64 `json:"stderr"`
	// P is McNemar's exact p-value (acc, acc_norm).
	P *float64 `json:"p,omitempty"`
	// WithinNoise: |TestDiff| ≤ z·StdErr (ppl, kl) or p ≥ 0.05 (acc).
	WithinNoise bool `json:"within_noise"`
}

// Result returns the row's result on a dataset, or nil.
func (r *Row) Result(dataset string) *DatasetResult {
	for i := range r.Results {
		if r.Results[i].Dataset == dataset {
			return &r.Results[i]
		}
	}
	return nil
}

// BaselineFor picks the row a row is compared with: the baseline method's
// row at the same bits and group (and, for static methods, the same
// calibration, else the default one); the fp row when the baseline is fp.
// It returns nil for the baseline rows themselves and when there is none.
func BaselineFor(rows []Row, r *Row, baseline, defaultCalib string) *Row {
	if r.Method == baseline {
		return nil
	}
	var fallback *Row
	for i := range rows {
		b := &rows[i]
		if b.Method != baseline {
			continue
		}
		if baseline == "fp" {
			return b
		}
		if r.Method == "fp" || b.Bits != r.Bits || b.Group != r.Group {
			continue
		}
		if b.Calib == r.Calib {
			return b
		}
		if b.Calib == defaultCalib || b.Calib == "" {
			fallback = b
		}
	}
	return fallback
}

// ComputeDeltas fills every row's Delta against its baseline row, and the
// lineups of rows against static rows (StaticDeltas, MatchedBits), judging
// noise at z paired standard errors.
func ComputeDeltas(rep *Report, z float64) {
	for i := range rep.Rows {
		r := &rep.Rows[i]
		r.Delta, r.StaticDeltas, r.MatchedBits = nil, nil, nil
		if len(rep.Settings.CalibDomains) > 0 && r.Calib == "" && r.Method != "fp" {
			r.StaticDeltas = lineup(rep, r, z, func(b *Row) bool {
				return b.Calib != "" && b.Bits == r.Bits && b.Group == r.Group
			})
		}
		if tol := rep.Settings.MatchedBitsTol; tol > 0 && IsTestTime(r.Method) {
			r.MatchedBits = lineup(rep, r, z, func(b *Row) bool {
				return b.Method != "fp" && !IsTestTime(b.Method) && math.Abs(b.BitsPerWeight-r.BitsPerWeight) <= tol+1e-9
			})
		}
		b := BaselineFor(rep.Rows, r, rep.Settings.Baseline, rep.Settings.Calib)
		if b == nil {
			continue
		}
		d := deltaAgainst(rep, r, b, z)
		r.Delta = &d
	}
}

// lineup compares row r with every row of the report that match accepts,
// in the report's row order.
func lineup(rep *Report, r *Row, z float64, match func(b *Row) bool) []Delta {
	var out []Delta
	for j := range rep.Rows {
		if b := &rep.Rows[j]; b != r && match(b) {
			out = append(out, deltaAgainst(rep, r, b, z))
		}
	}
	return out
}

// RowByID returns the report's row of that ID, or nil.
func (rep *Report) RowByID(id string) *Row {
	for i := range rep.Rows {
		if rep.Rows[i].ID == id {
			return &rep.Rows[i]
		}
	}
	return nil
}

// deltaAgainst compares row r with row b on every dataset both have.
func deltaAgainst(rep *Report, r, b *Row, z float64) Delta {
	d := Delta{Against: b.ID}
	for _, ds := range rep.Datasets {
		rr, br := r.Result(ds.Name), b.Result(ds.Name)
		if rr == nil || br == nil {
			continue
		}
		d.Metrics = append(d.Metrics, diffResults(ds, rr, br, z)...)
	}
	return d
}

// diffResults compares one dataset's results of a row and its baseline.
// Mismatched sample counts (an interrupted row) give no comparison.
func diffResults(ds DatasetInfo, r, b *DatasetResult, z float64) []DeltaStat {
	var out []DeltaStat
	switch ds.Kind {
	case KindPerplexity:
		if m, se, err := PairedDiff(r.Samples.NLL, b.Samples.NLL); err == nil {
			out = append(out, DeltaStat{Dataset: ds.Name, Metric: "ppl", Diff: r.PPL - b.PPL,
				TestDiff: m, StdErr: se, WithinNoise: math.Abs(m) <= z*se})
		}
		if m, se, err := PairedDiff(r.Samples.KL, b.Samples.KL); err == nil {
			out = append(out, DeltaStat{Dataset: ds.Name, Metric: "kl", Diff: r.KL - b.KL,
				TestDiff: m, StdErr: se, WithinNoise: math.Abs(m) <= z*se})
		}
	case KindMultipleChoice:
		for _, m := range []struct {
			name      string
			row, base Bools
			rv, bv    float64
		}{{"acc", r.Samples.Acc, b.Samples.Acc, r.Acc, b.Acc}, {"acc_norm", r.Samples.AccNorm, b.Samples.AccNorm, r.AccNorm, b.AccNorm}} {
			d, se, mc, err := PairedBinary(m.row, m.base)
			if err != nil {
				continue
			}
			p := mc.P
			out = append(out, DeltaStat{Dataset: ds.Name, Metric: m.name, Diff: m.rv - m.bv,
				TestDiff: d, StdErr: se, P: &p, WithinNoise: p >= pForZ(z)})
		}
	}
	return out
}

// pForZ is the two-sided normal p-value of z standard errors, so that one
// --tolerance governs both kinds of test (z = 2 → 0.0455).
func pForZ(z float64) float64 { return math.Erfc(z / math.Sqrt2) }

// Delta returns the row's delta of one metric on one dataset.
func (d *Delta) Stat(dataset, metric string) *DeltaStat {
	if d == nil {
		return nil
	}
	for i := range d.Metrics {
		if d.Metrics[i].Dataset == dataset && d.Metrics[i].Metric == metric {
			return &d.Metrics[i]
		}
	}
	return nil
}

// SortRows puts rows in the order the settings list methods, then bits
// (descending, as papers do), then calibration domain.
func SortRows(rep *Report) {
	rank := func(m string) int {
		if i := slices.Index(rep.Settings.Methods, m); i >= 0 {
			return i
		}
		return len(rep.Settings.Methods)
	}
	slices.SortStableFunc(rep.Rows, func(a, b Row) int {
		if c := rank(a.Method) - rank(b.Method); c != 0 {
			return c
		}
		if a.Bits != b.Bits {
			return b.Bits - a.Bits
		}
		if a.Group != b.Group {
			return a.Group - b.Group
		}
		return strings.Compare(a.Calib, b.Calib)
	})
}
