// Command domainshift runs issue #13's domain-shift study through
// pkg/compare: for each model (the demo, babyllama from the shared data,
// the demo with planted outliers 8:8, 32:8 and 32:32), rtn, awq and gptq
// with awq and gptq calibrated on each of WikiText-2 valid, wikipedia, c4,
// shakespeare, go and japanese, beside every TTQ preset (ttq:paper,
// ttq:search and any added later), at 3 and 4 bits, groups 32 and 128,
// evaluated on WikiText-2 test and each domain's held-out half. It writes
// DIR/report.md (a table per model, then the summary: the best TTQ variant
// against the best and the worst static row, with paired significance),
// DIR/summary.json, DIR/MODEL.json (the compare reports) and caches rows
// under DIR/cache, so a rerun is instant.
//
//	go run ./scripts/domainshift -o DIR [-quick] [-max-windows N] [-nsamples N] [-models demo,babyllama]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
)

func main() {
	out := flag.String("o", "", "output directory (report.md, summary.json, MODEL.json, cache/)")
	quick := flag.Bool("quick", false, "a smaller study (two models, two calibration and two evaluation domains, group 128) in a few minutes")
	windows := flag.Int("max-windows", 0, "perplexity windows per dataset (default: the study's)")
	nsamples := flag.Int("nsamples", 0, "calibration samples of awq and gptq (default: the study's)")
	render := flag.Bool("render", false, "compute nothing: rewrite report.md and summary.json from the reports in -o DIR")
	models := flag.String("models", "", "comma-separated models, of demo, babyllama, planted-8x8, planted-32x8, planted-32x32 (default: the study's)")
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/domainshift -o DIR [-quick] [-max-windows N] [-nsamples N] [-models a,b]")
		os.Exit(2)
	}
	s := FullStudy()
	if *quick {
		s = QuickStudy()
	}
	if *windows > 0 {
		s.MaxWindows = *windows
	}
	if *nsamples > 0 {
		s.NSamples = *nsamples
	}
	if *models != "" {
		want := strings.Split(*models, ",")
		s.Models = slices.DeleteFunc(FullStudy().Models, func(m Model) bool { return !slices.Contains(want, m.Name) })
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	run := func() error { _, err := Run(ctx, s, *out, os.Stderr); return err }
	if *render {
		run = func() error { _, err := Render(*out, s); return err }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "domainshift:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "domainshift: wrote %s/report.md\n", *out)
}
