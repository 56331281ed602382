package kernels

import (
	"runtime"
	"unsafe"
)

const (
	arenaAlign = 64      // a cache line: whole-line stores start on one
	hugePage   = 2 << 20 // x86-64's transparent huge page
)

// Arena hands out zeroed, cache-line-aligned pieces of one allocation,
// for buffers that live as long as a model and that kernels write with
// the stride of a row: TTQ's re-quantized weights. An arena of at least
// two huge pages is, on Linux, an anonymous mapping of its own, aligned to
// a huge page and advised (madvise) to be backed by transparent huge
// pages, and unmapped once the Arena is unreachable; it is not on the Go
// heap because the heap hands back pages already touched, which the
// advice no longer turns huge. Re-quantizing into 4 KiB pages, the panel
// kernel met a new page on nearly every row it wrote (a row of down_proj's
// codes is 2816 bytes), and the 1.1B shape's calibration took 2.9 % of a
// 512-token prefill against 2.2–2.4 % on huge pages (BenchmarkTTQPrefill,
// #9).
//
// The advice is a hint: where the kernel has no huge pages to give, the
// pages stay small. Pieces must not outlive the Arena: keep it reachable
// from whatever holds them.
type Arena struct {
	buf []byte
	off int
}

// ArenaSize is the size of an arena that holds pieces of the given byte
// lengths.
func ArenaSize(pieces ...int) int {
	n := 0
	for _, p := range pieces {
		n += alignUp(p, arenaAlign)
	}
	return n
}

// NewArena allocates an arena of size bytes (ArenaSize of its pieces),
// its pages faulted in now: buffers that are written once a request would
// otherwise pay for them on the first (`ttq generate` on the 4-layer model,
// a 551-token prompt: 0.20 s of TTQ calibration, against 0.029 s once the
// pages existed).
func NewArena(size int) *Arena {
	if size < 0 {
		panic("kernels: NewArena negative size")
	}
	var a *Arena
	if size >= 2*hugePage {
		if buf, mapping, ok := mapHuge(size); ok {
			a = &Arena{buf: buf}
			runtime.AddCleanup(a, unmap, mapping)
		}
	}
	if a == nil {
		raw := make([]byte, size+arenaAlign)
		start := 0
		if size > 0 {
			start = alignUp(int(uintptr(unsafe.Pointer(&raw[0]))), arenaAlign) - int(uintptr(unsafe.Pointer(&raw[0])))
		}
		a = &Arena{buf: raw[start : start+size : start+size]}
	}
	for i := 0; i < len(a.buf); i += 4096 {
		a.buf[i] = 0
	}
	return a
}

// Bytes returns the next n bytes of the arena.
func (a *Arena) Bytes(n int) []byte {
	if n < 0 || a.off+alignUp(n, arenaAlign) > len(a.buf) {
		panic("kernels: Arena exhausted")
	}
	b := a.buf[a.off : a.off+n : a.off+n]
	a.off += alignUp(n, arenaAlign)
	return b
}

// Float32s returns the next n float32 values of the arena.
func (a *Arena) Float32s(n int) []float32 {
	b := a.Bytes(4 * n)
	if n == 0 {
		return []float32{}
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }
