package kernelbench

import (
	"strings"
	"testing"
)

func TestBenchCasesStandardShapes(t *testing.T) {
	all := cases(Options{})
	seen := map[string]bool{}
	for _, c := range all {
		seen[c.kern.Name] = true
		if strings.HasPrefix(c.kern.Name, "gemv") && c.m != 1 || strings.HasPrefix(c.kern.Name, "gemm") && c.m != 512 {
			t.Errorf("%s runs at m = %d", c.kern.Name, c.m)
		}
	}
	for _, name := range KernelNames() {
		if !seen[name] {
			t.Errorf("kernel %s has no standard shape", name)
		}
	}
	one := cases(Options{Kernel: "gemv-q4", K: 64})
	if len(one) != 1 || one[0].m != 1 || one[0].k != 64 || one[0].n != 4096 {
		t.Errorf("--kernel gemv-q4 --k 64: %+v", one)
	}
}
