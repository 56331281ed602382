package offheap

import (
	"runtime"
	"testing"
)

func TestArrayZeroedWritableAndFreed(t *testing.T) {
	for _, n := range []int{0, 1, 1000, 3 << 20} {
		a, err := New[float64](n)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.S) != n {
			t.Fatalf("n=%d: len %d", n, len(a.S))
		}
		if want := runtime.GOOS == "linux" && n*8 >= minMapped; a.Mapped() != want {
			t.Fatalf("n=%d: mapped %v, want %v", n, a.Mapped(), want)
		}
		for i := range a.S {
			if a.S[i] != 0 {
				t.Fatalf("n=%d: element %d = %g, not zeroed", n, i, a.S[i])
			}
			a.S[i] = float64(i)
		}
		var sum float64
		for _, v := range a.S {
			sum += v
		}
		if want := float64(n) * float64(n-1) / 2; sum != want {
			t.Fatalf("n=%d: sum %g, want %g", n, sum, want)
		}
		a.Free()
		a.Free()
		if a.S != nil {
			t.Fatal("slice kept after Free")
		}
	}
	var nilArray *Array[float32]
	nilArray.Free()
}

func TestNewRejectsBadLengths(t *testing.T) {
	if _, err := New[float32](-1); err == nil {
		t.Fatal("negative length accepted")
	}
	if _, err := New[float64](1 << 61); err == nil {
		t.Fatal("overflowing length accepted")
	}
}
