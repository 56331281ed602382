package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/ttqproject/ttq/pkg/compare"
)

// sourceIdentity names the code that computes the study's rows: the
// toolchain, the build settings and every file under pkg/ and internal/
// (tests and testdata left out) with go.mod and go.sum. Editing the study's
// own tables keeps the cache; editing anything a row depends on empties
// it. Without the source tree (a binary moved elsewhere) it is compare's
// identity of the running executable.
func sourceIdentity() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return compare.BuildIdentity("dev")
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version())
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if !strings.HasPrefix(s.Key, "vcs.") {
				fmt.Fprintln(h, s.Key, s.Value)
			}
		}
	}
	hashFile := func(rel string) error {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
		return nil
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := hashFile(f); err != nil {
			return compare.BuildIdentity("dev")
		}
	}
	for _, dir := range []string{"pkg", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case d.IsDir() && d.Name() == "testdata":
				return filepath.SkipDir
			case d.IsDir() || strings.HasSuffix(p, "_test.go"):
				return nil
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			return hashFile(rel)
		})
		if err != nil {
			return compare.BuildIdentity("dev")
		}
	}
	return "dev+src" + hex.EncodeToString(h.Sum(nil))[:16]
}
