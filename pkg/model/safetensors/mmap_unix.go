//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package safetensors

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapFile maps the whole file read-only and private: the mapping stays valid
// after fh is closed, and pages are loaded lazily, so opening a large
// checkpoint costs no memory until tensors are read.
func mapFile(fh *os.File, size int64) ([]byte, func() error, error) {
	data, err := syscall.Mmap(int(fh.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}

// dropPages removes the whole pages inside b, a range of a read-only private
// file mapping, from the process's resident set. The mapping stays valid:
// a later read faults the pages back in from the file (the page cache),
// unchanged — MADV_DONTNEED only discards private copies, and a read-only
// mapping has none.
func dropPages(b []byte) {
	ps := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + ps - 1) &^ (ps - 1)
	hi := (start + uintptr(len(b))) &^ (ps - 1)
	if hi <= lo {
		return
	}
	_ = unix.Madvise(b[lo-start:hi-start], unix.MADV_DONTNEED) // advice: on failure the pages simply stay
}
