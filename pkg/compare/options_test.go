package compare

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
)

// The defaults are ttq compare's: awq is the baseline when compared, and
// the static methods get one row per calibration domain.
func TestOptionsDefaultsAndRows(t *testing.T) {
	o := DefaultOptions()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.Baseline != "awq" || len(o.RowSpecs()) != 9 {
		t.Fatalf("baseline %q, %d rows", o.Baseline, len(o.RowSpecs()))
	}
	o = DefaultOptions()
	o.Methods, o.Bits, o.CalibDomains = []string{"fp", "rtn", "gptq"}, []int{4}, []string{"wikipedia", "go"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range o.RowSpecs() {
		ids = append(ids, s.ID())
	}
	if got := strings.Join(ids, " "); got != "fp rtn-w4-g128 gptq-w4-g128@wikipedia gptq-w4-g128@go" || o.Baseline != "rtn" {
		t.Fatalf("rows %s, baseline %s", got, o.Baseline)
	}
}

// Bad options are *model.OptionError, before anything is loaded.
func TestOptionsErrors(t *testing.T) {
	for _, edit := range []func(o *Options){
		func(o *Options) { o.Methods = nil },
		func(o *Options) { o.Bits = []int{9} },
		func(o *Options) { o.Baseline = "gptq"; o.Methods = []string{"fp", "rtn"} },
		func(o *Options) { o.Shard = "2/2" },
		func(o *Options) { o.Knobs.TTQAlpha = 2 },
		func(o *Options) { o.Model = "builtin:nothing" },
	} {
		o := DefaultOptions()
		edit(&o)
		_, err := Run(context.Background(), o)
		var oe *model.OptionError
		if !errors.As(err, &oe) {
			t.Errorf("%+v: error %v (%T), want a *model.OptionError", o, err, err)
		}
	}
}

// A gate refuses a partial baseline before recomputing anything.
func TestGateRefusesPartialBaseline(t *testing.T) {
	_, err := Gate(context.Background(), &Report{Shard: "0/2"}, "part.json", DefaultOptions(), DefaultTolerance())
	if err == nil || !strings.Contains(err.Error(), "part.json is a partial report") {
		t.Fatalf("error %v", err)
	}
}

// ttq:PRESET rows are the ttq method with the preset's knobs, named and
// fingerprinted apart from plain ttq; --group takes a list.
func TestOptionsVariantsAndGroups(t *testing.T) {
	o := DefaultOptions()
	o.Methods, o.Bits, o.Groups = []string{"fp", "rtn", "ttq", "ttq:search"}, []int{3}, []int{32, 128}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	specs := o.RowSpecs()
	for _, s := range specs {
		ids = append(ids, s.ID())
	}
	want := "fp rtn-w3-g32 rtn-w3-g128 ttq-w3-g32 ttq-w3-g128 ttq:search-w3-g32 ttq:search-w3-g128"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("rows %s, want %s", got, want)
	}
	mo := o.rowMethod(specs[5])
	if mo.Method != "ttq" || mo.TTQPreset != "search" || mo.Group != 32 {
		t.Fatalf("variant row's method options: %+v", mo)
	}
	_, qo, err := mo.Resolve()
	if err != nil || !qo.TTQ.Clip || len(qo.TTQ.AlphaGrid) == 0 {
		t.Fatalf("ttq:search resolves to %+v (%v), want the search preset", qo.TTQ, err)
	}
	fps, err := o.fingerprints(ModelInfo{Name: "m"}, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fps[3] == fps[5] || fps[1] == fps[2] {
		t.Fatal("a variant or another group shares a fingerprint")
	}
	if !IsTestTime("ttq:search") || IsTestTime("awq") || BaseMethod("ttq:paper") != "ttq" {
		t.Fatal("IsTestTime / BaseMethod")
	}
	for _, edit := range []func(o *Options){
		func(o *Options) { o.Methods = []string{"ttq:nonesuch"} },
		func(o *Options) { o.Methods = []string{"awq:search"} },
		func(o *Options) { o.Methods = []string{"ttq:"} },
		func(o *Options) { o.Groups = []int{32, 32} },
		func(o *Options) { o.Groups = nil },
	} {
		o := DefaultOptions()
		edit(&o)
		var oe *model.OptionError
		if err := o.Validate(); !errors.As(err, &oe) {
			t.Errorf("%v %v: error %v, want an option error", o.Methods, o.Groups, err)
		}
	}
}

// A calibration domain may be any built-in calibration text; an
// evaluation domain only a built-in domain or a file.
func TestOptionsCalibSourcesAsDomains(t *testing.T) {
	o := DefaultOptions()
	o.CalibDomains = []string{"wikitext:valid", "go"}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if ids := o.RowSpecs(); ids[3].ID() != "awq-w3-g128@wikitext:valid" {
		t.Fatalf("row %s", ids[3].ID())
	}
	o = DefaultOptions()
	o.EvalDomains = []string{"wikitext:valid"}
	var oe *model.OptionError
	if err := o.Validate(); !errors.As(err, &oe) {
		t.Fatalf("wikitext:valid as an eval domain: %v", err)
	}
}
