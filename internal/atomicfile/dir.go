package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteDir has fill write a command's output files into a fresh
// temporary directory beside out, then moves them into out, so that an
// interrupted or failed run leaves no partial output: a new out appears
// whole in one rename; into an existing out (--force) each file is renamed
// over its old version, and the names in stale are removed first. The
// temporary directory is removed on failure; only SIGKILL can leave it
// behind (hidden, named .OUT.tmp-*).
func WriteDir(out string, stale []string, fill func(dir string) error) (err error) {
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(filepath.Clean(out))+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err == nil {
		return nil
	} else if _, serr := os.Stat(out); errors.Is(serr, fs.ErrNotExist) {
		return err
	}
	// out exists: move the files in one by one.
	for _, name := range stale {
		if err := os.Remove(filepath.Join(out, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Rename(filepath.Join(tmp, e.Name()), filepath.Join(out, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(tmp)
}
