package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/internal/sysmem"
)

// Buffers that cannot fit are refused before they are allocated, naming
// the flag that shrinks them.
func TestMemoryGuards(t *testing.T) {
	if _, ok := sysmem.Available(); !ok {
		t.Skip("available memory is unknown on this system")
	}
	out := filepath.Join(t.TempDir(), "q")
	// 10⁸ samples × 512 tokens of the demo's activations: ~90 TiB.
	code, _, errOut := runTTQ(t, "quantize", "--method", "awq", "--nsamples", "100000000", "-o", out)
	if code != 1 || !strings.Contains(errOut, "lower --nsamples") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("refused quantize wrote its output")
	}
}
