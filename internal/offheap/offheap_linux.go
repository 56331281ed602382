package offheap

import "golang.org/x/sys/unix"

const mappingSupported = true

func mapAnon(size int) ([]byte, error) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	// Advice only: where THP is off the mapping works with 4 KB pages.
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	return b, nil
}

func unmap(b []byte) {
	if err := unix.Munmap(b); err != nil {
		panic("offheap: munmap: " + err.Error()) // only a bad slice can cause it
	}
}
