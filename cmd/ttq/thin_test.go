package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The command layer stays flags → options → one call → render (issue
// #12): under 2,000 lines of non-test code in all and no file over 400.
// Work that grows it belongs in the library packages.
func TestCommandLayerStaysThin(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	total, count := 0, 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n := bytes.Count(b, []byte("\n"))
		if n > 400 {
			t.Errorf("%s: %d lines (at most 400)", f, n)
		}
		total += n
		count++
	}
	if total == 0 || total >= 2000 {
		t.Errorf("cmd/ttq: %d lines of non-test code (under 2,000 wanted)", total)
	}
	t.Logf("cmd/ttq: %d lines of non-test code in %d files", total, count)
}
