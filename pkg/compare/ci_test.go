package compare

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

func TestGitHubEscaping(t *testing.T) {
	var b strings.Builder
	if err := GitHubError(&b, "a,b:c.json", "t: 1, 2%", "50% worse\r\nnext: a, b"); err != nil {
		t.Fatal(err)
	}
	if want := "::error file=a%2Cb%3Ac.json,title=t%3A 1%2C 2%25::50%25 worse%0D%0Anext: a, b\n"; b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

// TestWriteJUnit: counts, and text that XML must escape.
func TestWriteJUnit(t *testing.T) {
	vs := []Verdict{
		{Regression: Regression{Row: "a<&>", Dataset: "d", Metric: "ppl", Baseline: 1, Current: 2, Why: "worse \"much\"\x01"}, Bound: "<= 1", Failed: true},
		{Regression: Regression{Row: "a<&>", Dataset: "d", Metric: "kl"}, Bound: "<= 2"},
	}
	for _, c := range []struct {
		err                   error
		tests, failures, errs int
	}{{nil, 2, 1, 0}, {errors.New("cannot judge"), 1, 0, 1}} {
		var b strings.Builder
		in := vs
		if c.err != nil {
			in = nil
		}
		if err := WriteJUnit(&b, GateSuite{Name: "gate", Err: c.err, Properties: []Property{{"baseline", "x.json"}}}, in); err != nil {
			t.Fatal(err)
		}
		var doc junitSuites
		if err := xml.Unmarshal([]byte(b.String()), &doc); err != nil {
			t.Fatalf("%v\n%s", err, b.String())
		}
		s := doc.Suites[0]
		if doc.Tests != c.tests || s.Tests != c.tests || s.Failures != c.failures || doc.Failures != c.failures || s.Errors != c.errs || len(s.Cases) != c.tests {
			t.Errorf("counts: %+v", doc)
		}
		if c.err == nil && (s.Cases[0].Classname != "a<&>" || s.Cases[0].Name != "d ppl" || !strings.Contains(s.Cases[0].Failure.Message, "baseline 1, current 2") || s.Cases[1].Failure != nil) {
			t.Errorf("cases: %+v", s.Cases)
		}
	}
}
