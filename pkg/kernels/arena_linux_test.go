package kernels

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestArenaHugePages checks, against the kernel's own accounting
// (/proc/self/smaps), that a large arena's pages are faulted in and huge
// where transparent huge pages are offered on request.
func TestArenaHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(mode), "[never]") {
		t.Skip("transparent huge pages are off here")
	}
	// Without compaction on fault a fragmented machine may have no huge
	// page to give, and the arena stays small: nothing to check then.
	if defrag, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/defrag"); err == nil && strings.Contains(string(defrag), "[never]") {
		t.Skip("transparent huge pages are not compacted on fault here")
	}
	a := NewArena(4 * hugePage)
	b := a.Bytes(4 * hugePage)
	start := uintptr(unsafe.Pointer(&b[0]))
	if start%hugePage != 0 {
		t.Fatalf("a %d-byte arena starts at %#x, not on a huge page", len(b), start)
	}
	// Untouched here: NewArena faults its pages in itself.
	kb, err := anonHugeKB(start)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel may be short of contiguous memory for some of the four;
	// none at all means the advice was not given or not honoured.
	if kb == 0 {
		t.Fatalf("the arena's mapping has no huge pages (AnonHugePages 0 kB; THP %q)", strings.TrimSpace(string(mode)))
	}
}

// anonHugeKB returns AnonHugePages of the mapping that holds addr.
func anonHugeKB(addr uintptr) (int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	in := false
	for s.Scan() {
		line := s.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			in = lo <= addr && addr < hi
			continue
		}
		var kb int
		if in {
			if n, _ := fmt.Sscanf(line, "AnonHugePages: %d kB", &kb); n == 1 {
				return kb, nil
			}
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no mapping holds %#x", addr)
}

// TestArenaUnmapped checks that a large arena's mapping goes once the
// Arena is unreachable: TTQ models made one after another in a process
// (`ttq compare`) must not pile up mappings.
func TestArenaUnmapped(t *testing.T) {
	a := NewArena(2 * hugePage)
	addr := uintptr(unsafe.Pointer(&a.Bytes(1)[0]))
	if _, err := anonHugeKB(addr); err != nil {
		t.Fatalf("the arena is not a mapping: %v", err)
	}
	a = nil
	for range 200 {
		runtime.GC()
		if _, err := anonHugeKB(addr); err != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("an unreachable arena is still mapped")
}
