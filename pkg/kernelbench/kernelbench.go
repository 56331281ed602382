// Package kernelbench measures ttq's compute kernels against the machine's
// own limits, as `ttq bench` reports them: each matrix product (float32,
// bfloat16, quantized weights) and the dot product is timed, and in the
// same run the peak FMA rate of a register-only loop and the streaming
// read bandwidth, so that every kernel is judged as a fraction of its
// roofline limit, min(peak FMA, flops per byte × bandwidth).
package kernelbench

import (
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
)

// Kernel is one kernel `ttq bench` can time: a float product over
// weights of element type elem, or a quantized one of bits bits (4-bit g128
// with zero points, AWQ's default format), or the dot product.
type Kernel struct {
	Name string
	M    int // activation rows when --m is not given
	Elem kernels.Elem
	Bits int // > 0: quantized weights
	Dot  bool
	// I8 runs the quantized matrix-vector product with int8 activations
	// (kernels.SetInt8Activations); the other quantized kernels run with
	// float32 activations whatever TTQ_QGEMV_I8 says.
	I8 bool
}

var Kernels = []Kernel{
	{Name: "gemm", M: 512, Elem: kernels.ElemF32},
	{Name: "gemv", M: 1, Elem: kernels.ElemF32},
	{Name: "gemm-bf16", M: 512, Elem: kernels.ElemBF16},
	{Name: "gemv-bf16", M: 1, Elem: kernels.ElemBF16},
	{Name: "gemm-q8", M: 512, Bits: 8},
	{Name: "gemv-q8", M: 1, Bits: 8},
	{Name: "gemv-q8-i8", M: 1, Bits: 8, I8: true},
	{Name: "gemm-q4", M: 512, Bits: 4},
	{Name: "gemv-q4", M: 1, Bits: 4},
	{Name: "gemv-q4-i8", M: 1, Bits: 4, I8: true},
	{Name: "gemm-q3", M: 512, Bits: 3},
	{Name: "gemv-q3", M: 1, Bits: 3},
	{Name: "gemm-q2", M: 512, Bits: 2},
	{Name: "gemv-q2", M: 1, Bits: 2},
	{Name: "dot", M: 1, Elem: kernels.ElemF32, Dot: true},
}

// KernelNames lists the kernels by name.
func KernelNames() []string {
	var s []string
	for _, k := range Kernels {
		s = append(s, k.Name)
	}
	return s
}

// defaultGroup is the group size of the quantized weights benchmarked
// when Options.Group is 0.
const defaultGroup = 128

// groups are the group sizes Options.Group may name: the grouped formats
// ttq quantizes to.
var groups = []int{32, 64, 128}

// coldBytes is the least working set of a matrix-vector benchmark: the
// weights are cycled through copies at least this large, so each product
// streams them from memory as decoding a large model does, instead of
// finding them in the last-level cache.
const coldBytes = 128 << 20

// dotLen is the default length of the dot benchmark's vectors, large
// enough to stream from memory.
const dotLen = 1 << 24

// Options choose what Run measures.
type Options struct {
	// Kernel is one of KernelNames ("" or "all": every kernel).
	Kernel string
	// M, K, N override the standard shapes (activation rows, inputs,
	// outputs); 0 keeps them.
	M, K, N int
	// MinTime is the least time spent measuring each kernel and limit;
	// BufferMiB the size of the bandwidth probe's buffer.
	MinTime   time.Duration
	BufferMiB int
	// Group is the group size of the quantized weights (one of 32, 64,
	// 128; 0: 128). Models are mostly g32 or g128, and the int8 kernels
	// take the two by different loops.
	Group int
}

// Validate checks o; bad values are *model.OptionError.
func (o Options) Validate() error {
	if o.Kernel != "" && o.Kernel != "all" && !slices.Contains(KernelNames(), o.Kernel) {
		return model.OptionErrorf("unknown --kernel %q (want one of %s)", o.Kernel, strings.Join(KernelNames(), ", "))
	}
	const maxDim = 1 << 16
	for _, d := range []struct {
		name string
		v    int
	}{{"--m", o.M}, {"--k", o.K}, {"--n", o.N}} {
		if d.v < 0 || d.v > maxDim {
			return model.OptionErrorf("%s must be in [0, %d] (0: the standard shapes), got %d", d.name, maxDim, d.v)
		}
	}
	if o.MinTime <= 0 {
		return model.OptionErrorf("--min-time must be positive, got %v", o.MinTime)
	}
	if o.Group != 0 && !slices.Contains(groups, o.Group) {
		return model.OptionErrorf("--group must be 32, 64 or 128, got %d", o.Group)
	}
	if o.BufferMiB < 1 {
		return model.OptionErrorf("--buffer-mib must be at least 1, got %d", o.BufferMiB)
	}
	return nil
}

// Limits are the machine's own ceilings.
type Limits struct {
	Threads int `json:"threads"`
	// PeakGFLOPS is the FMA rate of a register-only loop on Threads cores.
	PeakGFLOPS float64 `json:"peak_fma_gflops"`
	// ReadGBps is the streaming read bandwidth of a buffer of BufferMiB.
	ReadGBps  float64 `json:"read_bandwidth_gbps"`
	BufferMiB int     `json:"read_buffer_mib"`
}

// Row is one kernel on one shape.
type Row struct {
	Kernel  string  `json:"kernel"`
	M       int     `json:"m"`
	K       int     `json:"k"`
	N       int     `json:"n"`
	Seconds float64 `json:"seconds"` // median of the runs
	Runs    int     `json:"runs"`
	GFLOPS  float64 `json:"gflops"`
	GBps    float64 `json:"gbps"`
	Bytes   int64   `json:"bytes"` // weights + activations + outputs per run
	// Bound names the roofline limit the kernel is held to: "memory" when
	// its flops per byte times the read bandwidth is below the FMA peak,
	// "compute" otherwise. Limit is that bound in GFLOP/s.
	Bound    string  `json:"bound"`
	Limit    float64 `json:"limit_gflops"`
	Fraction float64 `json:"fraction_of_limit"`
	Cold     bool    `json:"cold_weights"`
	// Group is the quantized weights' group size; 0 for other kernels.
	Group int `json:"group,omitempty"`
}

// Result is the ttq.bench/v1 document.
type Result struct {
	Schema  string `json:"schema"`
	Kernels string `json:"kernels"`
	GOARCH  string `json:"goarch"`
	Limits  Limits `json:"limits"`
	Results []Row  `json:"results"`
}

// testCase is one kernel on one shape.
type testCase struct {
	kern    Kernel
	m, k, n int
}

func cases(opts Options) []testCase {
	var cs []testCase
	for _, kern := range Kernels {
		if opts.Kernel != "" && opts.Kernel != "all" && kern.Name != opts.Kernel {
			continue
		}
		if opts.M > 0 || opts.K > 0 || opts.N > 0 {
			c := testCase{kern, cmpOr(opts.M, kern.M), cmpOr(opts.K, 4096), cmpOr(opts.N, 4096)}
			if kern.Dot {
				c.m, c.n = 1, 1
			}
			cs = append(cs, c)
			continue
		}
		switch {
		case kern.Dot:
			cs = append(cs, testCase{kern, 1, dotLen, 1})
		default:
			cs = append(cs, testCase{kern, kern.M, 4096, 4096})
			if kern.Name == "gemv-q4" || kern.Name == "gemv-q4-i8" {
				cs = append(cs, testCase{kern, 1, 4096, 11008})
			}
			if kern.Name == "gemv" || kern.Name == "gemv-q4" || kern.Name == "gemv-q4-i8" || kern.Name == "gemm" || kern.Name == "gemm-q4" {
				// stories260K's MLP up-projection: hidden 172, dim 64.
				cs = append(cs, testCase{kern, kern.M, 64, 172})
			}
		}
	}
	return cs
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Run measures the limits, then every kernel o selects, then the limits
// again (the better of the two is kept, so that a burst of other load on a
// shared machine during one of them does not set the ceiling). It runs on
// kernels.Threads() threads.
func Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	threads := kernels.Threads()
	lim := Limits{Threads: threads, BufferMiB: opts.BufferMiB}
	// The limits are measured before and after the kernels and the better
	// of the two kept, so that a burst of other load on a shared machine
	// during one of them does not set the ceiling.
	measure := func() {
		lim.PeakGFLOPS = max(lim.PeakGFLOPS, kernels.PeakFMA(threads, opts.MinTime))
		lim.ReadGBps = max(lim.ReadGBps, kernels.ReadBandwidth(threads, opts.BufferMiB<<20, opts.MinTime))
	}
	measure()
	var rows []Row
	for _, c := range cases(opts) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rows = append(rows, runCase(c, opts.MinTime, cmpOr(opts.Group, defaultGroup)))
	}
	measure()
	res := Result{Schema: "ttq.bench/v1", Kernels: kernels.Accelerated(), GOARCH: runtime.GOARCH, Limits: lim}
	for _, row := range rows {
		roof := row.GFLOPS / row.GBps * lim.ReadGBps // flops per byte × bandwidth
		row.Bound, row.Limit = "compute", lim.PeakGFLOPS
		if roof < lim.PeakGFLOPS {
			row.Bound, row.Limit = "memory", roof
		}
		row.Fraction = row.GFLOPS / row.Limit
		res.Results = append(res.Results, row)
	}
	return &res, nil
}

// runCase times one case: at least three runs and at least minTime,
// reporting the median run; quantized weights come in groups of group.
func runCase(c testCase, minTime time.Duration, group int) Row {
	m, k, n := c.m, c.k, c.n
	r := rand.New(rand.NewPCG(uint64(m), uint64(k*n)))
	row := Row{Kernel: c.kern.Name, M: m, K: k, N: n}
	defer kernels.SetInt8Activations(kernels.SetInt8Activations(c.kern.I8))
	var fn func(i int)
	var wbytes int
	switch {
	case c.kern.Dot:
		x, y := randFloats(r, k), randFloats(r, k)
		var sink float32
		fn = func(int) { sink += kernels.Dot(x, y) }
		wbytes, row.Cold = 4*k, true
		row.Bytes = 8 * int64(k)
	default:
		x := randFloats(r, m*k)
		dst := make([]float32, m*n)
		var ws []any
		// One copy, or enough to stream from memory in matrix-vector
		// products.
		copies := 1
		for i := 0; i < copies; i++ {
			var w any
			if c.kern.Bits > 0 {
				qw := randQWeights(r, c.kern.Bits, group, n, k)
				row.Group = group
				w, wbytes = qw, qw.Bytes()
			} else {
				fw := randWeights(r, c.kern.Elem, n, k)
				w, wbytes = fw, fw.Bytes()
			}
			ws = append(ws, w)
			if i == 0 && m < 8 {
				copies = min(4096, (coldBytes+wbytes-1)/max(wbytes, 1))
				row.Cold = true
			}
		}
		fn = func(i int) {
			switch w := ws[i%len(ws)].(type) {
			case kernels.QWeights:
				kernels.QMatMulT(dst, x, m, w)
			case kernels.Weights:
				kernels.MatMulT(dst, x, m, w)
			}
		}
		row.Bytes = int64(wbytes) + 4*int64(m*k+m*n)
	}
	fn(0) // warm up: pools, page faults
	var times []float64
	start := time.Now()
	for i := 1; len(times) < 3 || time.Since(start) < minTime; i++ {
		t0 := time.Now()
		fn(i)
		times = append(times, time.Since(t0).Seconds())
	}
	sort.Float64s(times)
	row.Runs = len(times)
	row.Seconds = times[len(times)/2]
	flops := 2 * float64(m) * float64(n) * float64(k)
	row.GFLOPS = flops / row.Seconds / 1e9
	row.GBps = float64(row.Bytes) / row.Seconds / 1e9
	return row
}

func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = r.Float32()*2 - 1
	}
	return v
}

func randWeights(r *rand.Rand, e kernels.Elem, n, k int) kernels.Weights {
	b := make([]byte, n*k*e.Size())
	kernels.FromFloat32(b, randFloats(r, n*k), e)
	return kernels.Weights{Elem: e, Rows: n, Cols: k, Data: b}
}

// randQWeights returns random bits-bit weights in groups of group, with
// zero points; the
// values do not change the speed of any kernel.
func randQWeights(r *rand.Rand, bits, group, n, k int) kernels.QWeights {
	w := kernels.QWeights{Bits: bits, Group: group, Rows: n, Cols: k}
	ng := w.NumGroups()
	w.Packed = make([]byte, n*kernels.QRowBytes(bits, k))
	for i := 0; i < len(w.Packed); i += 8 {
		v := r.Uint64()
		for j := i; j < min(i+8, len(w.Packed)); j++ {
			w.Packed[j] = byte(v >> (8 * (j - i)))
		}
	}
	w.Scales = make([]float32, n*ng)
	w.Zeros = make([]uint8, n*ng)
	for i := range w.Scales {
		w.Scales[i] = 0.01 + 0.01*r.Float32()
		w.Zeros[i] = uint8(r.IntN(1 << bits))
	}
	return w
}
