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
// the pool taken and run on the caller alone: its threads are busy.
//
// fn escapes to the heap (a worker may run it), so a closure that captures
// variables costs an allocation per call; code called once per token uses
// a Parallel instead.
func ParallelFor(n, grain int, fn func(lo, hi int)) { runRanges(n, grain, rangeFunc(fn)) }

// A Parallel is ParallelFor for one function whose arguments are passed by
// value: a call copies them into a call record the Parallel keeps for the
// next call, so that once warm it allocates nothing, where a closure handed
// to ParallelFor is a fresh heap object each time. A decode step made about
// a hundred such calls (#9). Safe for concurrent use.
type Parallel[A any] struct {
	fn    func(args *A, lo, hi int)
	calls FreeList[parallelCall[A]]
}

// NewParallel returns a Parallel running fn.
func NewParallel[A any](fn func(args *A, lo, hi int)) *Parallel[A] {
	return &Parallel[A]{fn: fn}
}

type parallelCall[A any] struct {
	fn   func(args *A, lo, hi int)
	args A
}

func (c *parallelCall[A]) runRange(lo, hi int) { c.fn(&c.args, lo, hi) }

// For calls fn(&args, lo, hi) on disjoint ranges covering [0, n), as
// ParallelFor does.
func (p *Parallel[A]) For(n, grain int, args A) {
	if n <= 0 {
		return
	}
	c := p.calls.Get()
	c.fn, c.args = p.fn, args
	runRanges(n, grain, c)
	var zero A
	c.args = zero // whatever args referenced is the collector's again
	p.calls.Put(c)
}

// A FreeList keeps values for reuse, as sync.Pool does, except that any
// goroutine gets back any value put and the collector never empties it: a
// sync.Pool's value in one P's private slot is invisible to a Get on
// another P, so decode steps that moved between threads allocated their
// scratch again now and then (#9). It holds what its users hold at once at the most; the zero
// value is empty and ready, and Get returns a new zero T when it is empty.
type FreeList[T any] struct {
	// A spin lock: a sync.Mutex that two workers contend for parks one of
	// them, and the runtime now and then allocates for that.
	locked atomic.Bool
	items  []*T
}

func (f *FreeList[T]) lock() {
	for i := 0; !f.locked.CompareAndSwap(false, true); i++ {
		if i&63 == 63 {
			runtime.Gosched() // the holder was descheduled
		}
	}
}

// Get takes a value from the list, or returns new(T).
func (f *FreeList[T]) Get() *T {
	f.lock()
	var x *T
	if k := len(f.items); k > 0 {
		x = f.items[k-1]
		f.items[k-1] = nil
		f.items = f.items[:k-1]
	}
	f.locked.Store(false)
	if x == nil {
		x = new(T)
	}
	return x
}

// Put returns x to the list.
func (f *FreeList[T]) Put(x *T) {
	f.lock()
	f.items = append(f.items, x)
	f.locked.Store(false)
}

// Floats is a FreeList of float32 buffers handed out at a length.
type Floats struct{ list FreeList[[]float32] }

// Get returns a buffer of n values (contents undefined), grown if the one
// it takes is too short.
func (f *Floats) Get(n int) *[]float32 {
	p := f.list.Get()
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

// Put returns a buffer from Get to the list.
func (f *Floats) Put(p *[]float32) { f.list.Put(p) }

// rangeTask is the work of one call, run a range at a time.
type rangeTask interface{ runRange(lo, hi int) }

type rangeFunc func(lo, hi int)

func (f rangeFunc) runRange(lo, hi int) { f(lo, hi) }

// maxRanges bounds the ranges of one call: their count shares job.state
// with the generation and the next range.
const maxRanges = 1<<16 - 1

func runRanges(n, grain int, t rangeTask) {
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
		t.runRange(0, n)
		return
	}
	// Several ranges per worker balance the load without much overhead.
	step := max(grain, (n+4*workers-1)/(4*workers), (n+maxRanges-1)/maxRanges)
	if !kernelPool.mu.TryLock() {
		// Nested in a range of another call, or beside one: the threads
		// are taken, and goroutines of its own would only add their start
		// and an allocation (a decode step's attention products run inside
		// its per-head call).
		t.runRange(0, n)
		return
	}
	defer kernelPool.mu.Unlock()
	kernelPool.run(t, n, step, workers-1)
}

// job hands out the ranges of one call at a time. The pool's job serves
// every call, each under a generation of its own: a worker that comes late,
// still holding an earlier generation, finds it gone and can never take a
// range of a later call.
type job struct {
	// Written by the caller before it publishes the generation in state,
	// read by a worker only once it has claimed a range of that generation,
	// which the caller waits for: never raced.
	task    rangeTask
	n, step int

	state    atomic.Uint64 // generation<<32 | ranges<<16 | next range
	inflight atomic.Int64  // workers between a claim and finishing its range
}

// start sets j up for a call and returns its generation.
func (j *job) start(t rangeTask, n, step int) uint32 {
	j.task, j.n, j.step = t, n, step
	gen := uint32(j.state.Load()>>32) + 1
	ranges := uint64((n + step - 1) / step)
	j.state.Store(uint64(gen)<<32 | ranges<<16)
	return gen
}

// claim takes the next range of generation gen, if any is left.
func (j *job) claim(gen uint32) (int, bool) {
	for {
		v := j.state.Load()
		next, ranges := v&0xffff, v>>16&0xffff
		if uint32(v>>32) != gen || next >= ranges {
			return 0, false
		}
		if j.state.CompareAndSwap(v, v+1) {
			return int(next), true
		}
	}
}

// work runs ranges of generation gen until none is left.
func (j *job) work(gen uint32) {
	for {
		// Counted before the claim, so a caller that has found every range
		// claimed and then inflight at zero knows every range is done
		// (Go's atomics are sequentially consistent).
		j.inflight.Add(1)
		r, ok := j.claim(gen)
		if !ok {
			j.inflight.Add(-1)
			return
		}
		lo := r * j.step
		j.task.runRange(lo, min(lo+j.step, j.n))
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
	job     job
	workers []*poolWorker
}

var kernelPool pool

type poolWorker struct {
	posted   atomic.Uint32 // the generation of the pool's job to help with
	sleeping atomic.Bool
	wake     chan struct{} // one token per sleep the poster ended
}

// run starts the pool's job on t, posts it to the first helpers workers,
// growing the pool as needed, takes ranges itself and returns when every
// range has been done.
func (p *pool) run(t rangeTask, n, step, helpers int) {
	for len(p.workers) < helpers {
		w := &poolWorker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go w.loop(&p.job)
	}
	j := &p.job
	gen := j.start(t, n, step)
	for _, w := range p.workers[:helpers] {
		w.posted.Store(gen)
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	j.work(gen)
	spinUntil(func() bool { return j.inflight.Load() == 0 }, func() {
		// A helper descheduled mid-range: yield the core rather than spin.
		for j.inflight.Load() != 0 {
			runtime.Gosched()
		}
	})
	// Every range is done and no worker reads the task again; dropping it
	// lets the collector have whatever it holds.
	j.task = nil
}

func (w *poolWorker) loop(j *job) {
	var done uint32
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
		j.work(done)
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
