package compare

import (
	"math"
	"testing"
)

func TestPairedDiffByHand(t *testing.T) {
	// d = (1, 2, 3, 6): mean 3, sample variance ((−2)²+(−1)²+0+3²)/3 = 14/3,
	// stderr = √(14/3)/2 = 1.0801234...
	a := []float64{2, 4, 6, 10}
	b := []float64{1, 2, 3, 4}
	m, se, err := PairedDiff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if m != 3 || math.Abs(se-math.Sqrt(14.0/3)/2) > 1e-15 {
		t.Fatalf("PairedDiff = %v ± %v, want 3 ± %v", m, se, math.Sqrt(14.0/3)/2)
	}
	// A constant shift has no paired uncertainty, however noisy each side.
	m, se, _ = PairedDiff([]float64{5.5, 1.5, 9.5}, []float64{5, 1, 9})
	if m != 0.5 || se != 0 {
		t.Fatalf("constant shift: %v ± %v", m, se)
	}
	if _, _, err := PairedDiff([]float64{1}, []float64{1, 2}); err == nil {
		t.Fatal("different lengths accepted")
	}
	if _, _, err := PairedDiff(nil, nil); err == nil {
		t.Fatal("empty samples accepted")
	}
}

// TestMcNemarTextbook checks the statistic against Agresti's worked
// example (Categorical Data Analysis, 2nd ed., Table 10.1, presidential
// approval: 150 approve→disapprove, 86 disapprove→approve; z² = 17.36) and
// the one in Wikipedia's "McNemar's test" article (b = 121, c = 59:
// χ² = 21.35).
func TestMcNemarTextbook(t *testing.T) {
	r := McNemar(150, 86)
	if math.Abs(r.Chi2-17.356) > 0.001 {
		t.Fatalf("Agresti: χ² = %v, want 17.356", r.Chi2)
	}
	if r.P > 1e-4 {
		t.Fatalf("Agresti: exact p = %v, want < 1e-4 (z = −4.17)", r.P)
	}
	r = McNemar(121, 59)
	if math.Abs(r.Chi2-21.3556) > 0.0001 {
		t.Fatalf("Wikipedia: χ² = %v, want 21.3556", r.Chi2)
	}
	// χ²(1) upper tail at 3.841459 is 0.05.
	if p := Chi2P1(3.841459); math.Abs(p-0.05) > 1e-6 {
		t.Fatalf("Chi2P1(3.84) = %v", p)
	}
}

func TestMcNemarExactByHand(t *testing.T) {
	// b = 1, c = 6: P(X ≤ 1 | n = 7) = (1 + 7)/128, two-sided 16/128.
	if r := McNemar(1, 6); math.Abs(r.P-0.125) > 1e-12 {
		t.Fatalf("p = %v, want 0.125", r.P)
	}
	// Symmetric, capped at 1, and no discordance means no evidence.
	if r := McNemar(6, 1); math.Abs(r.P-0.125) > 1e-12 {
		t.Fatalf("p(6,1) = %v", r.P)
	}
	if r := McNemar(3, 3); r.P != 1 || r.Chi2 != 0 {
		t.Fatalf("b = c: %+v", r)
	}
	if r := McNemar(0, 0); r.P != 1 {
		t.Fatalf("no discordant pairs: %+v", r)
	}
	// b = 0, c = 5: 2/32.
	if r := McNemar(0, 5); math.Abs(r.P-0.0625) > 1e-12 {
		t.Fatalf("p(0,5) = %v", r.P)
	}
	// Large counts stay finite: 2000 vs 2100.
	if r := McNemar(2000, 2100); !(r.P > 0.1 && r.P < 0.15) {
		// z = 100/√4100 = 1.5617 → two-sided ≈ 0.118.
		t.Fatalf("p(2000,2100) = %v, want ≈ 0.118", r.P)
	}
}

func TestPairedBinary(t *testing.T) {
	base := []bool{true, true, false, false, true}
	row := []bool{true, false, true, true, true}
	diff, se, mc, err := PairedBinary(row, base)
	if err != nil {
		t.Fatal(err)
	}
	// b = 1 (item 2), c = 2 (items 3, 4): diff = 1/5; d = (0, −1, 1, 1, 0),
	// sample variance (3 − 5·0.04)/4 = 0.7, se = √(0.7/5).
	if mc.B != 1 || mc.C != 2 || math.Abs(diff-0.2) > 1e-15 || math.Abs(se-math.Sqrt(0.14)) > 1e-15 {
		t.Fatalf("diff %v ± %v, %+v", diff, se, mc)
	}
}
