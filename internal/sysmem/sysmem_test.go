package sysmem

import "testing"

func TestParseMeminfo(t *testing.T) {
	got, ok := parseMeminfo([]byte("MemTotal:       131072 kB\nMemFree:  10 kB\nMemAvailable:   65536 kB\n"))
	if !ok || got != 65536<<10 {
		t.Fatalf("got %d %v", got, ok)
	}
	if _, ok := parseMeminfo([]byte("MemTotal: 1 kB\n")); ok {
		t.Fatal("no MemAvailable line parsed as known")
	}
	if n, ok := Available(); ok && n <= 0 {
		t.Fatalf("Available() = %d", n)
	}
}
