package quant

import (
	"errors"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
)

// Every knob reads back what it printed: compare --check rebuilds a run's
// options from the text its report recorded.
func TestKnobValuesRoundTrip(t *testing.T) {
	o := DefaultMethodOptions()
	o.Method, o.Grid, o.Seed, o.GPTQDamp, o.AWQNoClip, o.TTQRank = "gptq", "sym", 7, 0.05, true, 3
	var back MethodOptions
	for name, v := range o.KnobValues() {
		if err := back.SetKnob(name, v); err != nil {
			t.Fatalf("--%s %q: %v", name, v, err)
		}
	}
	if got, want := back.KnobValues(), o.KnobValues(); len(got) != len(want) {
		t.Fatalf("%d knobs read back, %d written", len(got), len(want))
	} else {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("--%s: read back %q, wrote %q", k, got[k], v)
			}
		}
	}
	if err := back.SetKnob("no-such-knob", "1"); err == nil || !strings.Contains(err.Error(), "unknown") {
		t.Errorf("unknown knob: %v", err)
	}
	if err := back.SetKnob("bits", "four"); err == nil {
		t.Error("--bits four accepted")
	}
}

// Resolve reports bad values as the caller's mistake, naming the option.
func TestResolveOptionErrors(t *testing.T) {
	o := DefaultMethodOptions()
	o.Method, o.Bits = "rtn", 9
	_, _, err := o.Resolve()
	if err == nil || !strings.Contains(err.Error(), "--bits 9") {
		t.Fatalf("bits 9: %v", err)
	}
	var oe *model.OptionError
	if !errors.As(err, &oe) {
		t.Fatalf("%T is not a *model.OptionError", err)
	}
}
