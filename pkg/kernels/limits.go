package kernels

import (
	"runtime"
	"sync"
	"time"
)

// The machine's own ceilings, measured rather than taken from a data sheet,
// so that kernel speeds can be stated as fractions of what this machine,
// shared or throttled as it is at the moment, allows.

// fmaFlopsPerLane is the work of one fmaLoop iteration per vector lane:
// 12 chains × (multiply + add).
const fmaFlopsPerLane = 12 * 2

// PeakFMA measures the single-precision FMA rate in GFLOP/s of threads
// goroutines, each running a register-only loop of independent fused
// multiply-adds at the widest vector width the matrix kernels use (AVX-512,
// AVX2, or the pure-Go twin without assembly) for about dur. It is the
// compute ceiling of a matrix product.
func PeakFMA(threads int, dur time.Duration) float64 {
	const iters = 1 << 16
	lanes := 1 // fmaLoopGeneric's chains are scalar
	run := func() float32 {
		switch {
		case useAVX512:
			return fmaLoopAVX512(iters, 0.5, 1)
		case useAVX2:
			return fmaLoopAVX2(iters, 0.5, 1)
		}
		return fmaLoopGeneric(iters, 0.5, 1)
	}
	switch {
	case useAVX512:
		lanes = 16
	case useAVX2:
		lanes = 8
	}
	run() // warm up the vector unit's clock
	rounds := measureRounds(threads, dur, func(int) { run() })
	return rounds * iters * fmaFlopsPerLane * float64(lanes) / 1e9
}

// ReadBandwidth measures streaming read bandwidth in GB/s: threads
// goroutines each sum their share of a buffer of bufBytes bytes (far larger
// than the last-level cache, so every pass comes from DRAM) with vector
// loads, for about dur. It is the ceiling of a matrix-vector product,
// which reads each weight once.
func ReadBandwidth(threads, bufBytes int, dur time.Duration) float64 {
	threads = max(threads, 1)
	per := max(64, bufBytes/4/threads) &^ 63
	buf := make([]float32, per*threads)
	// Touch every page so the measurement sees memory, not page faults.
	ParallelFor(len(buf), 1<<16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			buf[i] = float32(i & 7)
		}
	})
	var sink [64]float32
	passes := measureRounds(threads, dur, func(t int) {
		part := buf[t*per : (t+1)*per]
		if useAVX2 {
			sink[t%64] += sumAVX2(part)
		} else {
			sink[t%64] += sumGeneric(part)
		}
	})
	runtime.KeepAlive(sink)
	return passes * float64(per) * 4 / 1e9
}

// measureRounds runs fn(t) repeatedly on goroutines t < threads, all
// started together, until dur has passed, and returns the rate in rounds
// per second per goroutine summed over goroutines.
func measureRounds(threads int, dur time.Duration, fn func(t int)) float64 {
	threads = max(threads, 1)
	var wg sync.WaitGroup
	rates := make([]float64, threads)
	start := make(chan struct{})
	for t := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-start
			t0 := time.Now()
			n := 0
			for {
				fn(t)
				n++
				if el := time.Since(t0); el >= dur {
					rates[t] = float64(n) / el.Seconds()
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	var sum float64
	for _, r := range rates {
		sum += r
	}
	return sum
}

// fmaLoopGeneric is the pure-Go twin of fmaLoopAVX2.
func fmaLoopGeneric(iters int, a, b float32) float32 {
	var c [12]float32
	for range iters {
		for i := range c {
			c[i] = c[i]*a + b
		}
	}
	var s float32
	for _, v := range c {
		s += v
	}
	return s
}

// sumGeneric is the pure-Go twin of sumAVX2 (over the whole slice).
func sumGeneric(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return s0 + s1 + s2 + s3
}
