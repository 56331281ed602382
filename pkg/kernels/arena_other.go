//go:build !linux

package kernels

// mapHuge declines where there is no madvise(MADV_HUGEPAGE): the arena
// comes from the Go heap.
func mapHuge(int) (buf, mapping []byte, ok bool) { return nil, nil, false }

func unmap([]byte) {}
