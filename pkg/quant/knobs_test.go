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

// The test-time variants and the LM head reach Options from their knobs:
// the search preset, an explicit α grid, clipping with its grid, low rank,
// --lm-head-bits; bad values are option errors naming the flag.
func TestResolveVariantKnobs(t *testing.T) {
	o := DefaultMethodOptions()
	o.Method = "ttq"
	_, q, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if q.TTQ.Clip || q.TTQ.AlphaGrid != nil || q.TTQ.LowRank != LowRankNone || q.LMHeadBits != 0 {
		t.Fatalf("defaults resolve to variants: %+v, head %d", q.TTQ, q.LMHeadBits)
	}
	o.TTQPreset = "search"
	if _, q, err = o.Resolve(); err != nil || !q.TTQ.Clip || len(q.TTQ.AlphaGrid) != len(DefaultAlphaGrid) {
		t.Fatalf("--ttq-preset search: %+v, %v", q.TTQ, err)
	}
	o.TTQPreset, o.TTQAlphaGrid, o.TTQClip, o.TTQClipGrid, o.TTQLowRank, o.LMHeadBits = "", "0.25,0.5", true, 10, "act-static", 8
	if _, q, err = o.Resolve(); err != nil {
		t.Fatal(err)
	}
	if !q.TTQ.Clip || q.TTQ.ClipGrid != 10 || len(q.TTQ.AlphaGrid) != 2 || q.TTQ.AlphaGrid[0] != 0.25 ||
		q.TTQ.LowRank != LowRankActStatic || !q.TTQ.NeedsData() || q.LMHeadBits != 8 {
		t.Fatalf("explicit variant knobs: %+v, head %d", q.TTQ, q.LMHeadBits)
	}
	for _, bad := range []struct {
		set  func(*MethodOptions)
		flag string
	}{
		{func(o *MethodOptions) { o.TTQPreset = "fast" }, "--ttq-preset"},
		{func(o *MethodOptions) { o.TTQAlphaGrid = "0.5,2" }, "--ttq-alpha-grid"},
		{func(o *MethodOptions) { o.TTQLowRank = "svd" }, "--ttq-lowrank"},
		{func(o *MethodOptions) { o.TTQClipMaxShrink = 1 }, "--ttq-clip-max-shrink"},
		{func(o *MethodOptions) { o.LMHeadBits = 1 }, "--lm-head-bits"},
	} {
		o := DefaultMethodOptions()
		o.Method = "ttq"
		bad.set(&o)
		_, _, err := o.Resolve()
		var oe *model.OptionError
		if err == nil || !errors.As(err, &oe) || !strings.Contains(err.Error(), bad.flag) {
			t.Errorf("%s: %v", bad.flag, err)
		}
	}
}
