package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// rssFileKB is the process's resident file-backed memory (RssFile in
// /proc/self/status).
func rssFileKB(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestReleasePagesDropsResidentKeepsData: after ReleasePages a touched
// tensor's pages are no longer resident, and reading it again gives the
// same bytes (they come back from the file).
func TestReleasePagesDropsResidentKeepsData(t *testing.T) {
	const n = 32 << 20
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i>>12)
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	writeShard(t, path, u8("w", data...))
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tn, err := f.Tensor("w")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tn.Data, data) { // pages every byte in
		t.Fatal("tensor data differs from what was written")
	}
	touched := rssFileKB(t)
	f.ReleasePages(tn.Data)
	released := rssFileKB(t)
	if drop := touched - released; drop < n/1024*3/4 {
		t.Fatalf("RssFile %d kB → %d kB after ReleasePages of %d kB", touched, released, n/1024)
	}
	if !bytes.Equal(tn.Data, data) {
		t.Fatal("tensor data changed by ReleasePages")
	}
	// Memory the file does not map is left alone.
	heap := bytes.Clone(data[:1<<20])
	f.ReleasePages(heap)
	if !bytes.Equal(heap, data[:1<<20]) {
		t.Fatal("ReleasePages touched memory outside the mapping")
	}
}
