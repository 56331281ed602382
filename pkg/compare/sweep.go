package compare

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/quant"
)

// Run quantizes o's model with every row's method, evaluates every row on
// the same windows and items, and returns the report with each row's
// differences to the baseline. Rows whose fingerprint is in the cache are
// read, not computed. On cancellation it returns the report of the
// finished rows (Interrupted set) together with the context's error.
//
// Run sets the kernels' thread count for its duration (kernels.SetThreads)
// and restores o.Threads after.
func Run(ctx context.Context, o Options) (*Report, error) {
	return run(ctx, &o, false)
}

// run is Run; noCache is set for a regression gate, which must recompute.
func run(ctx context.Context, o *Options, noCache bool) (*Report, error) {
	start := time.Now()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	sm, err := resolveModel(o)
	if err != nil {
		return nil, err
	}
	fpModel, err := sm.load()
	if err != nil {
		return nil, err
	}
	defer fpModel.Close()
	sm.info.Params = fpModel.Model.NumParams()
	datasets, err := buildDatasets(o, fpModel)
	if err != nil {
		return nil, err
	}

	threads, parallel := eval.SplitThreads(o.Threads, o.Parallel, fpModel.Model.Config)
	kernels.SetThreads(max(1, threads/parallel))
	defer kernels.SetThreads(o.Threads)

	shardI, shardN, _ := ParseShard(o.Shard)
	var mine []RowSpec
	for i, s := range o.RowSpecs() {
		if i%shardN == shardI {
			mine = append(mine, s)
		}
	}
	infos := make([]DatasetInfo, len(datasets))
	for i, d := range datasets {
		infos[i] = d.Info
	}
	fps, err := o.fingerprints(sm.info, mine, infos)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Schema: Schema, TTQVersion: o.Version, Model: sm.info, Datasets: infos,
		Settings: Settings{
			Methods: o.Methods, Bits: o.Bits, Group: firstOr0(o.Groups), Groups: multiple(o.Groups), Baseline: o.Baseline, Datasets: o.Datasets,
			Calib: o.Calib, CalibDomains: o.CalibDomains, EvalDomains: o.EvalDomains, Protocol: o.Protocol,
			Ctx: o.Ctx, BOS: o.BOS, MaxWindows: o.MaxWindows, MaxItems: o.MaxItems, MatchedBitsTol: o.MatchedBitsTol, MethodFlags: o.knobValues(),
			PlantOutliers: sm.plantSpec, PlantSeed: o.PlantSeed,
		},
		Threads: threads, CPUFeatures: o.CPUFeatures,
	}
	if shardN > 1 {
		rep.Shard = o.Shard
	}
	if o.Planned != nil {
		o.Planned(Plan{Rows: len(mine), Model: sm.info.Name, Datasets: infos})
	}

	cache := Cache{}
	if !o.NoCache && !noCache {
		dir := o.CacheDir
		if dir == "" {
			if dir, err = DefaultCacheDir(); err != nil {
				dir = ""
			}
		}
		cache.Dir = dir
	}
	fpSites := siteBytes(fpModel.Model)
	ref := NewLogitCache(eval.FromModel(fpModel.Model), 1<<30)
	windowLens := map[int]bool{}
	for _, d := range datasets {
		if d.Windows != nil {
			windowLens[d.Windows.Ctx] = true
		}
	}
	ref.Keep = func(tokens []int) bool { return windowLens[len(tokens)] }
	runner := &Runner{
		Datasets: datasets, Ref: ref, Workers: parallel, Cache: cache, Progress: o.Progress,
		Prepare: func(ctx context.Context, s RowSpec) (*Prepared, error) {
			if s.Method == "fp" {
				return &Prepared{Scorer: ref, BitsPerWeight: fpBitsPerWeight(fpModel.Model),
					ModelBytes: modelBytes(fpModel.Model, fpSites)}, nil
			}
			return o.prepareRow(ctx, sm, s, fpSites)
		},
	}
	rows, runErr := runner.Run(ctx, mine, fps)
	rep.Rows = rows
	rep.WallSeconds = time.Since(start).Seconds()
	SortRows(rep)
	ComputeDeltas(rep, DefaultZ)
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) || ctx.Err() != nil {
			rep.Interrupted = true
			return rep, runErr
		}
		return nil, runErr
	}
	return rep, nil
}

// fingerprints key the rows in the cache by everything that reaches them.
func (o *Options) fingerprints(info ModelInfo, specs []RowSpec, infos []DatasetInfo) ([]string, error) {
	identity := o.BuildIdentity
	if identity == "" {
		identity = BuildIdentity(o.Version)
	}
	fps := make([]string, len(specs))
	for i, s := range specs {
		mo := o.rowMethod(s)
		// Only the knobs that reach the method matter; fp has none.
		var settings any
		if s.Method != "fp" {
			meth, qo, err := mo.Resolve()
			if err != nil {
				return nil, err
			}
			// A test-time row reads the shared --calib only where its
			// options need data (low rank act-static); static rows name
			// their own.
			calib := s.Calib
			if calib == "" && meth.Name == "ttq" && qo.TTQ.NeedsData() {
				calib = mo.Calib
			}
			settings = map[string]any{"options": qo, "test_time": meth.TestTime, "calib": calibSHA256(calib),
				"nsamples": mo.NSamples, "calib_seqlen": mo.CalibSeqLen, "seed": mo.Seed}
		}
		fps[i] = Fingerprint(Schema, identity, info, s, settings, infos)
	}
	return fps, nil
}

// prepareRow loads a fresh copy of the model and applies the row's method.
func (o *Options) prepareRow(ctx context.Context, sm *sourceModel, s RowSpec, fpSites map[model.Site]int64) (*Prepared, error) {
	mo := o.rowMethod(s)
	if IsDomain(mo.Calib) {
		text, err := DomainText(mo.Calib, "calib")
		if err != nil {
			return nil, err
		}
		mo.Calib, mo.CalibText = "builtin:"+mo.Calib+"/calib", text
	}
	lm, err := sm.load()
	if err != nil {
		return nil, err
	}
	res, err := quant.ApplyMethod(ctx, lm, mo, nil)
	if err != nil {
		lm.Close()
		return nil, err
	}
	mr, _ := json.Marshal(res)
	p := &Prepared{Scorer: eval.FromModel(lm.Model), Format: res.Format, BitsPerWeight: res.EffectiveBits,
		ModelBytes: modelBytes(lm.Model, fpSites), QuantSeconds: res.Seconds, MethodResult: mr,
		Close: lm.Close}
	if res.TestTime {
		p.Workers = 1
		p.TTQStats = func() (time.Duration, int) { return quant.TTQStats(lm.Model) }
	}
	return p, nil
}

// calibSHA256 identifies a calibration source for the fingerprint.
func calibSHA256(name string) string {
	var b []byte
	switch {
	case name == "":
		return ""
	case IsDomain(name):
		s, _ := DomainText(name, "calib")
		b = []byte(s)
	default:
		t, _, err := quant.CalibrationText(name)
		if err != nil {
			return "unreadable:" + name
		}
		b = []byte(t)
	}
	return model.BytesSHA256(b)
}

// firstOr0 is a list's first value, 0 when empty.
func firstOr0(v []int) int {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// multiple is v when it has more than one value, else nil: a report of
// one group keeps the single "group" it always had.
func multiple(v []int) []int {
	if len(v) < 2 {
		return nil
	}
	return v
}
