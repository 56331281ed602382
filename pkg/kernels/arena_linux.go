package kernels

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// mapHuge maps size bytes, starting on a huge page, advised to be backed
// by transparent huge pages; mapping is what unmap releases. Refused
// advice (THP disabled, an old kernel) leaves small pages, which are
// correct, only slower to write with a stride.
func mapHuge(size int) (buf, mapping []byte, ok bool) {
	mapping, err := unix.Mmap(-1, 0, size+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, false
	}
	p := int(uintptr(unsafe.Pointer(&mapping[0])))
	start := alignUp(p, hugePage) - p
	buf = mapping[start : start+size : start+size]
	_ = unix.Madvise(buf, unix.MADV_HUGEPAGE)
	return buf, mapping, true
}

func unmap(mapping []byte) { _ = unix.Munmap(mapping) }
