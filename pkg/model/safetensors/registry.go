package safetensors

import (
	"os"
	"sync"
)

// The registry of files currently open through Open lets the writer refuse to
// replace a file that is still mapped as an input: exporting a checkpoint
// over the one being read would destroy the source on any failure.
var registry struct {
	sync.Mutex
	open map[*File]os.FileInfo
}

func register(f *File, st os.FileInfo) {
	registry.Lock()
	defer registry.Unlock()
	if registry.open == nil {
		registry.open = make(map[*File]os.FileInfo)
	}
	registry.open[f] = st
}

func unregister(f *File) {
	registry.Lock()
	defer registry.Unlock()
	delete(registry.open, f)
}

// openInput returns the path of an open File that is the same file as st.
func openInput(st os.FileInfo) (string, bool) {
	registry.Lock()
	defer registry.Unlock()
	for f, fst := range registry.open {
		if os.SameFile(st, fst) {
			return f.path, true
		}
	}
	return "", false
}

// IsOpen reports whether path names a file currently open through Open (the
// same file, not merely the same name).
func IsOpen(path string) bool {
	st, err := os.Stat(path)
	if err != nil {
		return false
	}
	_, ok := openInput(st)
	return ok
}
