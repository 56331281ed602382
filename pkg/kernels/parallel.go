package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
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
// least grain long, on up to Threads() goroutines, the caller's among them.
// Ranges are handed out dynamically so that uneven work still keeps every
// core busy.
//
// One caller at a time runs on a pool of persistent workers that spin for a
// moment after each call before they sleep: a decode step makes dozens of
// calls a few tens of microseconds long, and waking a sleeping goroutine
// costs about as much as the call itself. Concurrent or nested callers find
// the pool taken and start goroutines of their own, as every call did before
// the pool.
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
	j := &job{fn: fn, n: int64(n), step: int64(step)}
	if kernelPool.mu.TryLock() {
		defer kernelPool.mu.Unlock()
		kernelPool.run(j, workers-1)
		return
	}
	var wg sync.WaitGroup
	wg.Add(workers - 1)
	for range workers - 1 {
		go func() {
			defer wg.Done()
			j.work()
		}()
	}
	j.work()
	wg.Wait()
}

// job is one ParallelFor call. Each call has its own, so a worker that comes
// late finds its job's ranges all taken and can never touch a later call's.
type job struct {
	fn       func(lo, hi int)
	n, step  int64
	next     atomic.Int64 // start of the next range to hand out
	inflight atomic.Int64 // workers between claiming a range and finishing it
}

// work runs ranges of j until none is left.
func (j *job) work() {
	for {
		// Counted before the claim, so a caller that has seen every range
		// claimed and then inflight at zero knows every range is done
		// (Go's atomics are sequentially consistent).
		j.inflight.Add(1)
		lo := j.next.Add(j.step) - j.step
		if lo >= j.n {
			j.inflight.Add(-1)
			return
		}
		j.fn(int(lo), int(min(lo+j.step, j.n)))
		j.inflight.Add(-1)
	}
}

// spinFor is how long an idle worker, or a caller waiting for the last
// ranges, polls before it sleeps: longer than the gaps between a decode
// step's products, short enough that an idle process stops spending CPU
// almost at once.
const spinFor = 200 * time.Microsecond

type pool struct {
	mu      sync.Mutex // held by the one caller using the workers
	workers []*poolWorker
}

var kernelPool pool

type poolWorker struct {
	posted   atomic.Pointer[job]
	sleeping atomic.Bool
	wake     chan struct{} // one token per sleep the poster ended
}

// run posts j to the first helpers workers, growing the pool as needed,
// takes ranges itself and returns when every range has been done.
func (p *pool) run(j *job, helpers int) {
	for len(p.workers) < helpers {
		w := &poolWorker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go w.loop()
	}
	for _, w := range p.workers[:helpers] {
		w.posted.Store(j)
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	j.work()
	spinUntil(func() bool { return j.inflight.Load() == 0 }, func() {
		// A helper descheduled mid-range: yield the core rather than spin.
		for j.inflight.Load() != 0 {
			runtime.Gosched()
		}
	})
	// Every range is claimed, so no worker reads fn again; dropping it lets
	// the collector have whatever it holds while a worker keeps j.
	j.fn = nil
}

func (w *poolWorker) loop() {
	var done *job
	changed := func() bool { return w.posted.Load() != done }
	for {
		spinUntil(changed, func() {
			w.sleeping.Store(true)
			if changed() && w.sleeping.CompareAndSwap(true, false) {
				return // posted while falling asleep; nobody will send
			}
			<-w.wake
		})
		done = w.posted.Load()
		done.work()
	}
}

// spinUntil polls cond for spinFor and then calls sleep, which must return
// only once cond holds.
func spinUntil(cond func() bool, sleep func()) {
	var start time.Time
	for i := 0; ; i++ {
		if cond() {
			return
		}
		if i&255 == 255 {
			if start.IsZero() {
				start = time.Now()
			} else if time.Since(start) > spinFor {
				sleep()
				return
			}
		}
	}
}
