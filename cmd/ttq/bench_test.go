package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/kernelbench"
)

func TestBenchFlagValidation(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--kernel", "gemm-q5"},
		{"bench", "--m", "-1"},
		{"bench", "--k", "100000000"},
		{"bench", "--min-time", "0s"},
		{"bench", "--buffer-mib", "0"},
		{"bench", "extra-arg"},
	} {
		code, _, errOut := runTTQ(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, errOut)
		}
	}
}

// TestBenchTinyJSON runs every kernel on a tiny shape with the shortest
// measurements and checks the document's arithmetic, not its speeds.
func TestBenchTinyJSON(t *testing.T) {
	code, out, errOut := runTTQ(t, "bench", "--m", "8", "--k", "64", "--n", "64", "--min-time", "1ms", "--buffer-mib", "4", "--threads", "1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res kernelbench.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Schema != "ttq.bench/v1" || res.Limits.Threads != 1 || !(res.Limits.PeakGFLOPS > 0) || !(res.Limits.ReadGBps > 0) {
		t.Fatalf("header %+v", res)
	}
	if len(res.Results) != len(kernelbench.Kernels) {
		t.Fatalf("%d results for %d kernels", len(res.Results), len(kernelbench.Kernels))
	}
	for _, r := range res.Results {
		wantK, wantMN := 64, 64
		if r.Kernel == "dot" {
			wantMN = 1
		}
		if r.M != map[bool]int{true: 1, false: 8}[r.Kernel == "dot"] || r.K != wantK || r.N != wantMN || r.Runs < 3 {
			t.Errorf("%s: shape %d×%d×%d, %d runs", r.Kernel, r.M, r.K, r.N, r.Runs)
		}
		flops := 2 * float64(r.M*r.K*r.N)
		if !(r.Seconds > 0) || math.Abs(r.GFLOPS-flops/r.Seconds/1e9) > 1e-9*r.GFLOPS {
			t.Errorf("%s: %g GFLOP/s in %g s for %g flops", r.Kernel, r.GFLOPS, r.Seconds, flops)
		}
		// The roofline: the limit is the smaller of the peak and the
		// kernel's flops per byte times the bandwidth, and names which.
		roof := flops / float64(r.Bytes) * res.Limits.ReadGBps
		want, bound := math.Min(roof, res.Limits.PeakGFLOPS), "memory"
		if roof >= res.Limits.PeakGFLOPS {
			bound = "compute"
		}
		if r.Bound != bound || math.Abs(r.Limit-want) > 1e-6*want || math.Abs(r.Fraction-r.GFLOPS/r.Limit) > 1e-9 {
			t.Errorf("%s: bound %s %g (fraction %g), want %s %g", r.Kernel, r.Bound, r.Limit, r.Fraction, bound, want)
		}
	}
}

func TestBenchTable(t *testing.T) {
	code, out, errOut := runTTQ(t, "bench", "--kernel", "gemv-q4", "--k", "64", "--n", "32", "--min-time", "1ms", "--buffer-mib", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"limits (", "peak FMA", "read bandwidth", "gemv-q4", "GFLOP/s", "of limit", "cold"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
