package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// junitDoc is the part of a JUnit XML report CI systems read.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Name       string `xml:"name,attr"`
		Tests      int    `xml:"tests,attr"`
		Failures   int    `xml:"failures,attr"`
		Errors     int    `xml:"errors,attr"`
		Properties []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d junitDoc
	if err := xml.Unmarshal(b, &d); err != nil {
		t.Fatalf("JUnit report is not XML: %v\n%s", err, b)
	}
	if len(d.Suites) != 1 || d.Tests != d.Suites[0].Tests || d.Failures != d.Suites[0].Failures || d.Suites[0].Tests != len(d.Suites[0].Cases) {
		t.Fatalf("JUnit counts inconsistent:\n%s", b)
	}
	return d
}

// TestCompareCheckJUnit runs the gate for CI: JUnit XML with one test case
// per row and metric, and GitHub ::error lines, on a baseline perturbed so
// that some checks fail.
func TestCompareCheckJUnit(t *testing.T) {
	dir := t.TempDir()
	rep := compareJSON(t, "--methods", "fp,rtn", "--bits", "4", "--max-windows", "2", "--max-items", "40", "--baseline", "fp", "--no-cache")
	good := filepath.Join(dir, "good.json")
	b, _ := json.Marshal(rep)
	if err := os.WriteFile(good, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// 2 rows × (wikitext ppl, kl; piqa acc, acc_norm).
	const cases = 8
	xmlPath := filepath.Join(dir, "report.xml")
	t.Setenv("GITHUB_ACTIONS", "")
	if code, out, errOut := runTTQ(t, "compare", "--check", good, "--junit", xmlPath); code != 0 || strings.Contains(out, "::error") {
		t.Fatalf("own baseline: exit %d: %s%s", code, out, errOut)
	}
	if d := readJUnit(t, xmlPath); d.Tests != cases || d.Failures != 0 {
		t.Fatalf("own baseline: %d tests, %d failures", d.Tests, d.Failures)
	}

	// The baseline claims fp did better on WikiText (NLL 3% lower) and
	// rtn on PIQA (every item right) than they do.
	for i := range rep.Rows {
		row := &rep.Rows[i]
		switch row.Method {
		case "fp":
			r := row.Result("wikitext")
			for j := range r.Samples.NLL {
				r.Samples.NLL[j] *= 0.97
			}
		case "rtn":
			r := row.Result("piqa")
			for j := range r.Samples.Acc {
				r.Samples.Acc[j] = true
			}
			r.Acc = 1
		}
	}
	bad := filepath.Join(dir, "perturbed.json")
	b, _ = json.Marshal(rep)
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_ACTIONS", "true")
	code, out, errOut := runTTQ(t, "compare", "--check", bad, "--junit", xmlPath)
	if code != exitRegression {
		t.Fatalf("perturbed baseline: exit %d, want %d: %s", code, exitRegression, errOut)
	}
	d := readJUnit(t, xmlPath)
	failed := map[string]string{}
	for _, c := range d.Suites[0].Cases {
		if c.Failure != nil {
			failed[c.Classname+" "+c.Name] = c.Failure.Message + "\n" + c.Failure.Text
		}
	}
	if d.Tests != cases || d.Failures != len(failed) || len(failed) != 2 {
		t.Fatalf("%d tests, %d failures %v; want %d tests, failures fp wikitext ppl and rtn-w4-g128 piqa acc", d.Tests, d.Failures, failed, cases)
	}
	for _, name := range []string{"fp wikitext ppl", "rtn-w4-g128 piqa acc"} {
		msg, ok := failed[name]
		if !ok {
			t.Errorf("no failure for %s: %v", name, failed)
		}
		for _, want := range []string{"baseline", "current", "tolerance"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s failure lacks %q: %s", name, want, msg)
			}
		}
	}
	if p := d.Suites[0].Properties; len(p) == 0 || p[0].Name != "baseline" || p[0].Value != bad {
		t.Errorf("properties %+v", p)
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "::error ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(out, "title=ttq regression%3A fp wikitext ppl::fp wikitext ppl regressed: baseline") {
		t.Fatalf("::error lines %q in\n%s", lines, out)
	}

	// With --json, stdout stays one JSON document; the lines go to stderr.
	code, out, errOut = runTTQ(t, "compare", "--check", bad, "--json")
	var doc map[string]any
	if code != exitRegression || json.Unmarshal([]byte(out), &doc) != nil || strings.Count(errOut, "::error ") != 2 {
		t.Fatalf("--json: exit %d, stdout %.200q, stderr %q", code, out, errOut)
	}

	// A gate that cannot judge is one errored case.
	rep.Model.SHA256 = strings.Repeat("0", 64)
	b, _ = json.Marshal(rep)
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runTTQ(t, "compare", "--check", bad, "--junit", xmlPath)
	if d := readJUnit(t, xmlPath); code != exitError || d.Suites[0].Errors != 1 || !strings.Contains(d.Suites[0].Cases[0].Error.Message, "regenerate the baseline") || !strings.Contains(out, "::error ") {
		t.Fatalf("unjudgeable baseline: exit %d, %+v, stdout %q", code, d, out)
	}

	if code, _, _ := runTTQ(t, "compare", "--junit", xmlPath); code != exitUsage {
		t.Errorf("--junit without --check: exit %d", code)
	}
}
