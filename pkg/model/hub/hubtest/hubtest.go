// Package hubtest builds Hugging Face hub cache layouts for tests: blobs
// named by their SHA-256, snapshot files as relative symlinks to them, and a
// refs file naming the snapshot's commit, as huggingface_hub writes them.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Add stores files as revision rev of repo ("org/name") in the cache
// directory and returns the snapshot's commit hash (derived from the
// content, so equal files give equal commits). rev may be "" to write no
// ref; it may contain slashes (refs/pr/1).
func Add(t testing.TB, cache, repo, rev string, files map[string][]byte) string {
	t.Helper()
	repoDir := filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	h := sha1.New()
	for _, name := range names {
		h.Write([]byte(name))
		h.Write(files[name])
	}
	commit := hex.EncodeToString(h.Sum(nil))
	snap := filepath.Join(repoDir, "snapshots", commit)
	for _, name := range names {
		sum := sha256.Sum256(files[name])
		blob := hex.EncodeToString(sum[:])
		mustWrite(t, filepath.Join(repoDir, "blobs", blob), files[name])
		link := filepath.Join(snap, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		target, err := filepath.Rel(filepath.Dir(link), filepath.Join(repoDir, "blobs", blob))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	if rev != "" {
		mustWrite(t, filepath.Join(repoDir, "refs", filepath.FromSlash(rev)), []byte(commit))
	}
	return commit
}

func mustWrite(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
