// Package atomicfile writes files so that their final name only ever holds a
// complete file: data goes to a temporary file in the destination's
// directory, which Commit syncs and renames into place. An interrupted or
// failed write leaves at most a hidden temporary file, never a truncated
// destination.
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// File is a pending write of one destination path.
type File struct {
	f    *os.File
	path string
	done bool
}

// Create starts writing path.
func Create(path string) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &File{f: f, path: path}, nil
}

// Write appends to the pending file.
func (a *File) Write(p []byte) (int, error) { return a.f.Write(p) }

// Path is the destination.
func (a *File) Path() string { return a.path }

// Commit makes the file readable like one os.WriteFile would create it
// (0644), flushes it to disk and renames it over the destination.
func (a *File) Commit() error {
	err := a.f.Chmod(0o644)
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(a.f.Name(), a.path)
	}
	if err != nil {
		os.Remove(a.f.Name())
		return err
	}
	a.done = true
	return nil
}

// Abort removes the temporary file unless Commit succeeded; it is safe to
// defer right after Create.
func (a *File) Abort() {
	if a.done {
		return
	}
	a.done = true
	a.f.Close()
	os.Remove(a.f.Name())
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte) error {
	a, err := Create(path)
	if err != nil {
		return err
	}
	defer a.Abort()
	if _, err := a.Write(data); err != nil {
		return err
	}
	return a.Commit()
}

// WriteNonEmpty is WriteFile for a command's small output files (configs,
// tokenizers), refusing an empty one: a source file that vanished or was
// truncated mid-read must not become a valid-looking empty copy.
func WriteNonEmpty(path string, data []byte) error {
	if len(data) == 0 {
		return errors.New("internal: empty file for " + path)
	}
	return WriteFile(path, data)
}
