//go:build race

package quant

// The race detector's sync.Pool drops items at random, so allocation
// counts mean nothing under it.
const raceBuild = true
