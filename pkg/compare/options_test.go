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
