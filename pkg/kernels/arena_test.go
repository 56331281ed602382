package kernels

import (
	"testing"
	"unsafe"
)

func TestArenaPieces(t *testing.T) {
	sizes := []int{5, 64, 0, 130, 7}
	a := NewArena(ArenaSize(sizes...) + ArenaSize(3*4))
	var prev []byte
	for _, n := range sizes {
		b := a.Bytes(n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("Bytes(%d): len %d cap %d", n, len(b), cap(b))
		}
		if n > 0 {
			if p := uintptr(unsafe.Pointer(&b[0])); p%arenaAlign != 0 {
				t.Fatalf("Bytes(%d) at %#x, not cache-line aligned", n, p)
			}
			for i := range b {
				if b[i] != 0 {
					t.Fatalf("Bytes(%d)[%d] = %d, not zeroed", n, i, b[i])
				}
				b[i] = 0xff
			}
		}
		if len(prev) > 0 && n > 0 && uintptr(unsafe.Pointer(&b[0])) < uintptr(unsafe.Pointer(&prev[len(prev)-1])) {
			t.Fatal("pieces overlap")
		}
		if n > 0 {
			prev = b
		}
	}
	if f := a.Float32s(3); len(f) != 3 || f[0] != 0 || f[2] != 0 {
		t.Fatalf("Float32s(3) = %v", f)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a full arena handed out another piece")
		}
	}()
	a.Bytes(1)
}
