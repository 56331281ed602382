package kernelbench

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
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

// --group reaches the weights the quantized kernels run on, and only the
// grouped formats ttq quantizes to are accepted.
func TestBenchGroup(t *testing.T) {
	for _, g := range []int{32, 128} {
		w := randQWeights(rand.New(rand.NewPCG(1, 2)), 4, g, 8, 256)
		if w.Group != g || w.NumGroups() != 256/g || len(w.Scales) != 8*256/g {
			t.Errorf("group %d: weights in groups of %d, %d groups a row, %d scales", g, w.Group, w.NumGroups(), len(w.Scales))
		}
		c := cases(Options{Kernel: "gemv-q4-i8", K: 256, N: 8})[0]
		if row := runCase(c, time.Millisecond, g); row.Group != g {
			t.Errorf("group %d: the row reports group %d", g, row.Group)
		}
	}
	if row := runCase(cases(Options{Kernel: "gemv", K: 64, N: 8})[0], time.Millisecond, 32); row.Group != 0 {
		t.Errorf("a float kernel reports group %d", row.Group)
	}
	ok := Options{MinTime: time.Millisecond, BufferMiB: 1}
	for _, g := range []int{0, 32, 64, 128} {
		o := ok
		o.Group = g
		if err := o.Validate(); err != nil {
			t.Errorf("--group %d: %v", g, err)
		}
	}
	for _, g := range []int{-1, 16, 48, 256} {
		o := ok
		o.Group = g
		if err := o.Validate(); err == nil {
			t.Errorf("--group %d accepted", g)
		}
	}
}
