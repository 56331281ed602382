package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

var threads atomic.Int32

// SetThreads sets how many goroutines the kernels use; n <= 0 restores the
// default, GOMAXPROCS.
func SetThreads(n int) {
	if n < 0 {
		n = 0
	}
	threads.Store(int32(n))
}

// Threads returns the number of goroutines the kernels use.
func Threads() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// ParallelFor calls fn(lo, hi) on disjoint ranges covering [0, n), each at
// least grain long, on up to Threads() goroutines. Ranges are handed out
// dynamically so that uneven work still keeps every core busy.
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if grain < 1 {
		grain = 1
	}
	workers := Threads()
	chunks := (n + grain - 1) / grain
	if workers > chunks {
		workers = chunks
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	// Several chunks per worker balance the load without much overhead.
	step := (n + 4*workers - 1) / (4 * workers)
	if step < grain {
		step = grain
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(int64(step))) - step
				if lo >= n {
					return
				}
				fn(lo, min(lo+step, n))
			}
		}()
	}
	wg.Wait()
}
