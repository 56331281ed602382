package export

import (
	"os"
	"path/filepath"
)

// atomicFile is a temporary file beside its destination that commit
// renames into place, so a failed or interrupted export never leaves a
// truncated file under the destination's name.
type atomicFile struct {
	f    *os.File
	path string
	done bool
}

func createAtomic(path string) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &atomicFile{f: f, path: path}, nil
}

func (a *atomicFile) commit() error {
	if err := a.f.Sync(); err != nil {
		return err
	}
	if err := a.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(a.f.Name(), a.path); err != nil {
		return err
	}
	a.done = true
	return nil
}

// abort removes the temporary file unless commit succeeded.
func (a *atomicFile) abort() {
	if a.done {
		return
	}
	a.f.Close()
	os.Remove(a.f.Name())
}
