package compare

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// GateSuite describes one run of the regression gate for a CI report.
type GateSuite struct {
	// Name of the test suite, e.g. "ttq compare --check baseline.json".
	Name string
	// Seconds the run took.
	Seconds float64
	// Properties are recorded in the suite (baseline, model, tolerance).
	Properties []Property
	// Err, when set, is why the gate could not judge the rows: the report
	// then holds one errored test case instead of the verdicts.
	Err error
}

// Property is a name and value recorded with a test suite.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// The JUnit XML schema as CI systems read it (Jenkins, GitLab, GitHub test
// reporters): testsuites > testsuite > testcase, with failure or error.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string      `xml:"name,attr"`
	Tests      int         `xml:"tests,attr"`
	Failures   int         `xml:"failures,attr"`
	Errors     int         `xml:"errors,attr"`
	Skipped    int         `xml:"skipped,attr"`
	Time       string      `xml:"time,attr"`
	Properties []Property  `xml:"properties>property,omitempty"`
	Cases      []junitCase `xml:"testcase"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// caseName is a verdict's test case name within its row's class.
func (v Verdict) caseName() string { return v.Dataset + " " + v.Metric }

// details are the numbers of a verdict, one per line.
func (v Verdict) details() string {
	return fmt.Sprintf("baseline: %.6g\ncurrent: %.6g\nchange: %+.6g ± %.3g\ntolerance: %s\n%s\n",
		v.Baseline, v.Current, v.Diff, v.StdErr, v.Bound, v.Why)
}

// Summary is a one-line account of a failed verdict.
func (v Verdict) Summary() string {
	return fmt.Sprintf("%s %s regressed: baseline %.6g, current %.6g (%s); tolerance: %s",
		v.Row, v.caseName(), v.Baseline, v.Current, v.Why, v.Bound)
}

// WriteJUnit writes the verdicts as a JUnit XML report: one test case per
// row and metric (classname the row, name "dataset metric"), failures
// carrying the baseline, current value and tolerance, in one test suite
// with its counts.
func WriteJUnit(w io.Writer, s GateSuite, verdicts []Verdict) error {
	secs := fmt.Sprintf("%.3f", s.Seconds)
	suite := junitSuite{Name: s.Name, Time: secs, Properties: s.Properties}
	if s.Err != nil {
		suite.Errors = 1
		suite.Cases = []junitCase{{Classname: "ttq.compare.check", Name: "gate", Time: secs,
			Error: &junitProblem{Message: s.Err.Error(), Type: "gate error", Text: s.Err.Error()}}}
	}
	for _, v := range verdicts {
		c := junitCase{Classname: v.Row, Name: v.caseName(), Time: "0"}
		if v.Failed {
			suite.Failures++
			c.Failure = &junitProblem{Message: v.Summary(), Type: "regression", Text: v.details()}
		} else {
			c.SystemOut = v.details()
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	doc := junitSuites{Name: s.Name, Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Time: secs, Suites: []junitSuite{suite}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// GitHubAnnotations writes one ::error workflow command per failed
// verdict, which GitHub Actions shows as an annotation of the run (and of
// file, when not empty, e.g. the baseline's path in the repository).
func GitHubAnnotations(w io.Writer, file string, verdicts []Verdict) error {
	for _, v := range verdicts {
		if !v.Failed {
			continue
		}
		if err := GitHubError(w, file, "ttq regression: "+v.Row+" "+v.caseName(), v.Summary()); err != nil {
			return err
		}
	}
	return nil
}

// GitHubError writes one ::error workflow command, escaped as the runner
// expects: % CR LF in the message, and also : and , in the properties.
func GitHubError(w io.Writer, file, title, msg string) error {
	var props []string
	if file != "" {
		props = append(props, "file="+escapeProperty(file))
	}
	props = append(props, "title="+escapeProperty(title))
	_, err := fmt.Fprintf(w, "::error %s::%s\n", strings.Join(props, ","), escapeData(msg))
	return err
}

var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

func escapeData(s string) string     { return dataEscaper.Replace(s) }
func escapeProperty(s string) string { return propertyEscaper.Replace(s) }
