//go:build !unix

package kernels

// cpuSeconds is unavailable here; see bench_unix_test.go.
func cpuSeconds() float64 { return -1 }
