//go:build !linux

package offheap

// Elsewhere every array is an ordinary Go allocation.
const mappingSupported = false

func mapAnon(int) ([]byte, error) { panic("unreachable") }

func unmap([]byte) {}
