//go:build race

package kernels

// The race detector's sync.Pool drops items at random, so allocation
// counts mean nothing under it.
const raceBuild = true
