package compare

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/transform"
	"github.com/ttqproject/ttq/pkg/quant"
)

// Options choose what Run compares. DefaultOptions gives `ttq compare`'s
// defaults: every method at 3 and 4 bits on the demo model, sized to finish
// in about a minute on two cores.
type Options struct {
	// Model is a model directory, a hub cache reference org/name[@rev],
	// "" or demo.Name for the demo, or PlantedDemoName.
	Model string
	// PlantOutliers "K:N" plants outliers into the model first (see
	// transform.ParseSpec); PlantSeed chooses the channels.
	PlantOutliers string
	PlantSeed     uint64

	// Methods are compared at every Bits and every Groups (fp, full
	// precision, once); a group is the inputs per group (−1 per row).
	// "ttq:PRESET" is a TTQ variant: the ttq method with --ttq-preset
	// PRESET (any of quant.TTQPresetNames()), its own rows beside plain
	// ttq's.
	Methods []string
	Bits    []int
	Groups  []int
	// Datasets: wikitext, piqa, a built-in domain, a text FILE or mc:FILE.
	Datasets []string
	// Baseline is the method the others are compared with; "" picks awq,
	// else rtn, else fp, else the first method.
	Baseline string
	// Calib is the calibration text of the static methods; CalibDomains,
	// when set, calibrates them once per domain instead. EvalDomains adds
	// each domain's held-out half as a perplexity dataset.
	Calib        string
	CalibDomains []string
	EvalDomains  []string

	// Protocol, Ctx and BOS are eval's perplexity protocol, window (0: the
	// protocol's default) and BOS policy.
	Protocol string
	Ctx      int
	BOS      string
	// MaxWindows and MaxItems limit each dataset (0: all).
	MaxWindows int
	MaxItems   int
	// MatchedBitsTol lines each test-time row up against every static
	// row whose bits/weight is within this many bits of its own
	// (Row.MatchedBits); 0: no such lineup.
	MatchedBitsTol float64
	// Parallel windows or items at once (0: one per thread for small
	// models); Threads for the kernels in all (0: every core).
	Parallel int
	Threads  int

	// Knobs are the method options every row shares; Method, Bits, Group
	// and Calib are set per row.
	Knobs quant.MethodOptions

	// CacheDir holds computed rows by fingerprint (""; DefaultCacheDir);
	// NoCache computes every row and stores none.
	CacheDir string
	NoCache  bool
	// Shard "i/n" computes only rows i, i+n, i+2n, ...
	Shard string

	// Version goes into the report; BuildIdentity names the code in the
	// rows' fingerprints, so that a changed program never reuses rows an
	// older one cached (default: BuildIdentity(Version), which for "dev"
	// hashes the running executable).
	Version       string
	BuildIdentity string
	// CPUFeatures are recorded in the report.
	CPUFeatures map[string]bool

	// Planned, if set, hears what will run before the first row;
	// Progress hears every step of every row.
	Planned  func(Plan)
	Progress func(Event)
}

// Plan is what a Run is about to compute.
type Plan struct {
	Rows     int
	Model    string
	Datasets []DatasetInfo
}

// PlantedDemoName is the built-in stress model: the demo with planted
// outliers (PlantedDemoSpec).
const (
	PlantedDemoName = "builtin:stories260K-planted"
	PlantedDemoSpec = "32:8"
)

// DefaultMatchedBitsTol is the default of Options.MatchedBitsTol: a
// quarter bit per weight, less than the smallest step between the formats
// compare's defaults store on the demo (3-bit g128 → g32: 3.57 → 3.85
// b/w with f16 scales), so that a test-time row meets the static rows of
// its own format and those of another only when its extra stored numbers
// (low-rank factors) bring it there.
const DefaultMatchedBitsTol = 0.25

// calibSources are the built-in calibration texts besides the domains
// (quant.CalibrationText), usable as calibration domains.
var calibSources = []string{"wikitext:valid", "wikitext:test", "piqa"}

// ownKnobs are the method knobs compare takes as lists or per row.
var ownKnobs = []string{"method", "bits", "group", "calib"}

// IsOwnKnob reports whether Options sets the method knob name itself
// (per row) rather than through Knobs.
func IsOwnKnob(name string) bool { return slices.Contains(ownKnobs, name) }

// DefaultOptions are `ttq compare`'s defaults: 9 rows, 4 WikiText windows
// of 512 tokens, 200 PIQA items, 16 × 128 calibration tokens for awq/gptq
// (calibrating awq on 128 × 512 tokens takes minutes even on the demo).
func DefaultOptions() Options {
	k := quant.DefaultMethodOptions()
	k.NSamples, k.CalibSeqLen = 16, 128
	return Options{
		Methods: []string{"fp", "rtn", "awq", "gptq", "ttq"}, Bits: []int{3, 4}, Groups: []int{128},
		Datasets: []string{"wikitext", "piqa"}, Calib: "wikitext:valid",
		Protocol: "gptq", BOS: "auto", MaxWindows: 4, MaxItems: 200, MatchedBitsTol: DefaultMatchedBitsTol,
		Knobs: k, Version: "dev",
	}
}

// Validate checks o and fills in the default baseline. Bad values are
// *model.OptionError.
func (o *Options) Validate() error {
	bad := model.OptionErrorf
	if len(o.Methods) == 0 {
		return bad("--methods is empty")
	}
	seen := map[string]bool{}
	for _, m := range o.Methods {
		if seen[m] {
			return bad("--methods lists %s twice", m)
		}
		seen[m] = true
		if m == "fp" {
			continue
		}
		base, preset, variant := strings.Cut(m, ":")
		if _, err := quant.Lookup(base); err != nil {
			return bad("--methods: %v", err)
		}
		if variant && (base != "ttq" || !slices.Contains(quant.TTQPresetNames(), preset)) {
			return bad("--methods %s: a variant is ttq:PRESET with PRESET one of %s", m, strings.Join(quant.TTQPresetNames(), ", "))
		}
	}
	quantized := len(o.Methods) > 1 || o.Methods[0] != "fp"
	if quantized && len(o.Bits) == 0 {
		return bad("--bits is empty")
	}
	for _, b := range o.Bits {
		if b < 2 || b > 8 {
			return bad("--bits %d: supported 2 to 8", b)
		}
	}
	if quantized && len(o.Groups) == 0 {
		return bad("--group is empty")
	}
	gseen := map[int]bool{}
	for _, g := range o.Groups {
		if g == 0 || g < -1 {
			return bad("--group %d: want a positive group size or -1 for per-row", g)
		}
		if gseen[g] {
			return bad("--group lists %d twice", g)
		}
		gseen[g] = true
	}
	if o.Baseline == "" {
		for _, m := range []string{"awq", "rtn", "fp"} {
			if seen[m] {
				o.Baseline = m
				break
			}
		}
		if o.Baseline == "" {
			o.Baseline = o.Methods[0]
		}
	}
	if !seen[o.Baseline] {
		return bad("--baseline %s is not among --methods %s", o.Baseline, strings.Join(o.Methods, ","))
	}
	if len(o.Datasets) == 0 && len(o.EvalDomains) == 0 {
		return bad("--datasets is empty")
	}
	if err := eval.ValidateBOSAndProtocol(o.BOS, o.Protocol); err != nil {
		return err
	}
	if o.Ctx < 0 || o.MaxWindows < 0 || o.MaxItems < 0 || o.Parallel < 0 || !(o.MatchedBitsTol >= 0) {
		return bad("--ctx, --max-windows, --max-items, --parallel and --matched-bits-tol must not be negative")
	}
	if o.PlantOutliers != "" {
		if _, err := transform.ParseSpec(o.PlantOutliers); err != nil {
			return bad("--plant-outliers: %v", err)
		}
		if o.Model == PlantedDemoName {
			return bad("%s already has planted outliers; use --model builtin:stories260K with --plant-outliers", PlantedDemoName)
		}
	}
	if _, _, err := ParseShard(o.Shard); err != nil {
		return err
	}
	for i, d := range append(slices.Clone(o.CalibDomains), o.EvalDomains...) {
		if d == "" {
			return bad("empty domain name")
		}
		// A calibration domain may also be a calibration source of the
		// static methods (wikitext:valid, the default --calib).
		if IsDomain(d) || i < len(o.CalibDomains) && slices.Contains(calibSources, d) {
			continue
		}
		if _, err := os.Stat(d); err != nil {
			return bad("domain %q is neither built in (%s) nor a readable file", d, strings.Join(Domains, ", "))
		}
	}
	// Every method knob must be valid for every method compared.
	for _, m := range o.Methods {
		if m == "fp" {
			continue
		}
		for _, g := range o.Groups {
			if _, _, err := o.rowMethod(RowSpec{Method: m, Bits: o.Bits[0], Group: g, Calib: o.Calib}).Resolve(); err != nil {
				return err
			}
		}
	}
	return nil
}

// ParseShard reads "i/n" (0 ≤ i < n); "" is the whole run (0/1).
func ParseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 1, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, model.OptionErrorf("--shard %q: want i/n with 0 ≤ i < n (e.g. 0/4)", s)
	}
	return i, n, nil
}

// knobValues returns the shared method knobs as the report records them.
func (o *Options) knobValues() map[string]string {
	out := o.Knobs.KnobValues()
	for _, name := range ownKnobs {
		delete(out, name)
	}
	return out
}

// rowMethod is a row's method options: the shared knobs with the row's
// method, bits, group and calibration; a TTQ variant's row (ttq:PRESET)
// takes its preset.
func (o *Options) rowMethod(spec RowSpec) quant.MethodOptions {
	mo := o.Knobs
	base, preset, variant := strings.Cut(spec.Method, ":")
	mo.Method, mo.Bits, mo.Group = base, spec.Bits, spec.Group
	if variant {
		mo.TTQPreset = preset
	}
	mo.Calib, mo.CalibText, mo.LayerCheckpoint = spec.Calib, "", nil
	if mo.Calib == "" {
		mo.Calib = o.Calib
	}
	return mo
}

// RowSpecs expands methods × bits × groups (× calibration domains for the
// static data-driven methods), in the order the rows run.
func (o *Options) RowSpecs() []RowSpec {
	var specs []RowSpec
	for _, m := range o.Methods {
		if m == "fp" {
			specs = append(specs, RowSpec{Method: "fp"})
			continue
		}
		meth, _ := quant.Lookup(BaseMethod(m))
		for _, b := range o.Bits {
			for _, g := range o.Groups {
				s := RowSpec{Method: m, Bits: b, Group: g}
				switch {
				case !meth.NeedsData:
				case len(o.CalibDomains) > 0:
					for _, d := range o.CalibDomains {
						s.Calib = d
						specs = append(specs, s)
					}
					continue
				default:
					s.Calib = o.Calib
				}
				specs = append(specs, s)
			}
		}
	}
	return specs
}

// BaseMethod is the quantization method of a compared method name: "ttq"
// for the variant "ttq:search", the name itself otherwise.
func BaseMethod(m string) string {
	base, _, _ := strings.Cut(m, ":")
	return base
}

// IsTestTime reports whether a compared method calibrates per prompt
// (ttq and its variants).
func IsTestTime(m string) bool {
	meth, err := quant.Lookup(BaseMethod(m))
	return err == nil && meth.TestTime
}
