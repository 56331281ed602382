// Package shareddata locates the project's out-of-tree evaluation data and
// models (../shared/data beside the repository) for tests.
//
// Tests that need the data call Dir. When the directory is absent the test is
// skipped, so a fresh clone elsewhere still passes; when
// TTQ_REQUIRE_SHARED_DATA=1 (as .ci/run sets) a missing directory fails the
// test instead, because a silent skip in CI would hide breakage.
package shareddata

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvDir overrides the location of the shared data directory.
const EnvDir = "TTQ_SHARED_DATA"

// EnvRequire makes a missing shared data directory a test failure.
const EnvRequire = "TTQ_REQUIRE_SHARED_DATA"

// Locate returns the shared data directory and whether it exists.
func Locate() (string, bool) {
	dir := os.Getenv(EnvDir)
	if dir == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return "", false
		}
		// file is <root>/internal/shareddata/shareddata.go.
		root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
		dir = filepath.Join(root, "..", "shared", "data")
	}
	st, err := os.Stat(dir)
	return dir, err == nil && st.IsDir()
}

// Dir returns the shared data directory, skipping the test when it is absent
// (or failing it when TTQ_REQUIRE_SHARED_DATA=1).
func Dir(t testing.TB) string {
	t.Helper()
	dir, ok := Locate()
	if !ok {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("shared data directory %q not found and %s=1", dir, EnvRequire)
		}
		t.Skipf("shared data directory %q not found; set %s to run this test", dir, EnvDir)
	}
	return dir
}

// Path returns a file below the shared data directory, skipping or failing
// like Dir when the file is missing.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("shared data file %s: %v", p, err)
		}
		t.Skipf("shared data file %s: %v", p, err)
	}
	return p
}
