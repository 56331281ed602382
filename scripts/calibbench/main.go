// Command calibbench measures what static calibration costs relative to a
// plain forward pass over the same calibration tokens: the decoder layers'
// forward (last-token logits only, so the LM head does not dominate a
// short cut of a model), the same linears' GEMMs alone (the rate the
// forward is held to), GPTQ and AWQ (with clip search), each in a fresh
// subprocess so that its peak RSS is its own. With -reps > 1 the methods
// are interleaved (forward, gemm, gptq, awq, forward, ...); every ratio is
// taken within a rep, in wall and in CPU time, and medians are reported.
//
//	go run ./scripts/synthmodel -preset tinyllama-1.1b -layers 1 -o /tmp/tl1
//	go run ./scripts/calibbench -model /tmp/tl1 -nsamples 16 -seqlen 512 -threads 2
//
// -only METHOD runs one measurement in this process and prints one JSON
// line (what the parent reads); -cpuprofile writes its CPU profile,
// -memprofile its heap profile (go tool pprof -sample_index=alloc_space
// shows what allocated the garbage that sets the peak).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/quant"
)

type result struct {
	Method  string  `json:"method"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is user+system time of the measurement: on a shared
	// machine it moves far less than wall time when other work competes.
	CPUSeconds float64 `json:"cpu_seconds"`
	// GFLOPS is the forward's rate (decoder linears and attention, the
	// LM head's last row left out), and for "gemm" the rate of the same
	// linears' matrix products alone on seqlen-row inputs: the ceiling the
	// forward is held to.
	GFLOPS float64 `json:"gflops,omitempty"`
	// LoadSeconds is the model load, outside Seconds.
	LoadSeconds float64 `json:"load_seconds"`
	// HWMBytes is the process's VmHWM after the measurement.
	HWMBytes int64 `json:"hwm_bytes"`
}

func main() {
	dir := flag.String("model", "", "model directory")
	nsamples := flag.Int("nsamples", 16, "calibration samples")
	seqlen := flag.Int("seqlen", 512, "tokens per sample")
	threads := flag.Int("threads", 2, "kernel threads")
	bits := flag.Int("bits", 4, "bits")
	group := flag.Int("group", 128, "group size")
	methods := flag.String("methods", "forward,gemm,gptq,awq", "comma-separated: forward, gemm (the forward's linears alone), rtn, gptq, awq")
	reps := flag.Int("reps", 1, "interleaved repetitions (medians reported)")
	only := flag.String("only", "", "run one method in this process and print JSON")
	cpuprofile := flag.String("cpuprofile", "", "with -only: write a CPU profile")
	memprofile := flag.String("memprofile", "", "with -only: write a heap profile at the end")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "calibbench: -model is required")
		os.Exit(2)
	}
	kernels.SetThreads(*threads)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50) // as cmd/ttq runs (see its gcPercent)
	}
	if *only != "" {
		r, err := measure(*dir, *only, *nsamples, *seqlen, *bits, *group, *cpuprofile)
		if err == nil && *memprofile != "" {
			err = writeHeapProfile(*memprofile)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "calibbench:", err)
			os.Exit(1)
		}
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
		return
	}
	if err := parent(*dir, strings.Split(*methods, ","), *reps, *nsamples, *seqlen); err != nil {
		fmt.Fprintln(os.Stderr, "calibbench:", err)
		os.Exit(1)
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// calibTokens are nsamples random sequences of ids below 512 (the synthetic
// models' tokenizer) and the vocabulary, from a fixed seed.
func calibTokens(vocab, nsamples, seqlen int) [][]int {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]int, nsamples)
	for i := range out {
		out[i] = make([]int, seqlen)
		for j := range out[i] {
			out[i][j] = rng.IntN(min(vocab, 512))
		}
	}
	return out
}

func measure(dir, method string, nsamples, seqlen, bits, group int, cpuprofile string) (result, error) {
	t0 := time.Now()
	m, err := model.Load(dir)
	if err != nil {
		return result{}, err
	}
	defer m.Close()
	load := time.Since(t0).Seconds()
	calib := calibTokens(m.Config.VocabSize, nsamples, min(seqlen, m.Config.MaxPositions))
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	start, cpu0 := time.Now(), cpuSeconds()
	lins, err := decoderLinears(m)
	if err != nil {
		return result{}, err
	}
	var flops float64
	switch method {
	case "forward":
		st := m.NewState(len(calib[0]))
		for _, seq := range calib {
			st.Reset()
			if _, err := m.Forward(st, seq, model.LastLogits); err != nil {
				return result{}, err
			}
			flops += forwardFlops(lins, m.Config, len(seq))
		}
	case "gemm":
		flops = layerGEMMs(lins, len(calib[0]), len(calib))
	default:
		o, err := quant.DefaultOptions(method)
		if err != nil {
			return result{}, err
		}
		o.Format.Bits, o.Format.Group = bits, group
		c, err := quant.New(method, o)
		if err != nil {
			return result{}, err
		}
		if err := c.Apply(context.Background(), m, calib, nil); err != nil {
			return result{}, err
		}
	}
	r := result{Method: method, Seconds: time.Since(start).Seconds(), CPUSeconds: cpuSeconds() - cpu0, LoadSeconds: load, HWMBytes: vmHWM()}
	if flops > 0 {
		r.GFLOPS = flops / r.Seconds / 1e9
	}
	return r, nil
}

// decoderLinears lists the decoder layers' linears (not the LM head).
func decoderLinears(m *model.Model) ([]model.Linear, error) {
	var out []model.Linear
	for _, s := range m.Sites() {
		if s.Layer < 0 {
			continue
		}
		lin, err := m.Linear(s)
		if err != nil {
			return nil, err
		}
		out = append(out, lin)
	}
	return out, nil
}

// forwardFlops counts a t-token prefill's multiply-adds ×2 in the decoder
// layers: every linear, and causal attention's scores and weighted values
// (t²/2 positions per head, head_dim each, both products).
func forwardFlops(lins []model.Linear, c model.Config, t int) float64 {
	var f float64
	for _, lin := range lins {
		f += 2 * float64(t) * float64(lin.In()) * float64(lin.Out())
	}
	f += float64(c.NumLayers) * 2 * 2 * float64(t) * float64(t) / 2 * float64(c.QDim())
	return f
}

// layerGEMMs runs the decoder linears' matrix products alone, reps times
// each on a t-row input, and returns their flops.
func layerGEMMs(lins []model.Linear, t, reps int) float64 {
	var f float64
	for _, lin := range lins {
		x := make([]float32, t*lin.In())
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		y := make([]float32, t*lin.Out())
		for range reps {
			lin.Forward(y, x, t)
		}
		f += float64(reps) * 2 * float64(t) * float64(lin.In()) * float64(lin.Out())
	}
	return f
}

// cpuSeconds is this process's user plus system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// vmHWM is the peak resident set size of this process, from
// /proc/self/status (0 where there is none).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func parent(dir string, methods []string, reps, nsamples, seqlen int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var args []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "methods" && f.Name != "reps" {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	times := map[string][]float64{}
	cpu := map[string][]float64{}
	ratio := map[string][]float64{}    // wall time over the same rep's forward
	cpuRatio := map[string][]float64{} // CPU time over the same rep's forward
	rss := map[string][]int64{}
	gflops := map[string][]float64{}
	for r := 0; r < reps; r++ {
		var fwd result
		for _, meth := range methods {
			var out bytes.Buffer
			cmd := exec.Command(exe, append(slices.Clone(args), "-only="+meth)...)
			cmd.Stdout, cmd.Stderr = &out, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("%s: %w", meth, err)
			}
			var res result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				return fmt.Errorf("%s: %w", meth, err)
			}
			maxrss := int64(0)
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				maxrss = ru.Maxrss << 10
			}
			if meth == "forward" {
				fwd = res
			}
			times[meth] = append(times[meth], res.Seconds)
			cpu[meth] = append(cpu[meth], res.CPUSeconds)
			if fwd.Seconds > 0 && fwd.CPUSeconds > 0 {
				ratio[meth] = append(ratio[meth], res.Seconds/fwd.Seconds)
				cpuRatio[meth] = append(cpuRatio[meth], res.CPUSeconds/fwd.CPUSeconds)
			}
			rss[meth] = append(rss[meth], max(maxrss, res.HWMBytes))
			if res.GFLOPS > 0 {
				gflops[meth] = append(gflops[meth], res.GFLOPS)
			}
			fmt.Fprintf(os.Stderr, "rep %d %-8s %8.2f s  %8.2f CPU s  peak RSS %6.0f MB\n", r+1, meth, res.Seconds, res.CPUSeconds, float64(max(maxrss, res.HWMBytes))/1e6)
		}
	}
	ckpt := checkpointBytes(dir)
	fmt.Printf("model %s (checkpoint %.0f MB), %d reps, medians; ratios are to the forward of the same rep\n", dir, float64(ckpt)/1e6, reps)
	fmt.Printf("%-8s %10s %10s %10s %10s %12s\n", "method", "seconds", "×forward", "CPU s", "CPU ×fwd", "peak RSS MB")
	for _, meth := range methods {
		r, cr := "-", "-"
		if len(ratio[meth]) > 0 {
			r, cr = fmt.Sprintf("%.2f", median(ratio[meth])), fmt.Sprintf("%.2f", median(cpuRatio[meth]))
		}
		fmt.Printf("%-8s %10.2f %10s %10.2f %10s %12.0f\n", meth, median(times[meth]), r, median(cpu[meth]), cr, float64(slices.Max(rss[meth]))/1e6)
	}
	if slices.Contains(methods, "gptq") {
		if data, err := os.ReadFile(filepath.Join(dir, "config.json")); err == nil {
			if c, err := model.ParseConfig(data); err == nil {
				t := nsamples * min(seqlen, c.MaxPositions)
				fmt.Printf("GPTQ's arithmetic is %.2f× the forward's on this shape (%s)\n", gptqArithmetic(c, min(seqlen, c.MaxPositions), t), gptqArithmeticTerms)
			}
		}
	}
	if f, g := gflops["forward"], gflops["gemm"]; len(f) > 0 && len(g) > 0 {
		fmt.Printf("forward %.1f GFLOP/s, its linears' GEMMs alone %.1f GFLOP/s: %.0f %%\n", median(f), median(g), 100*median(f)/median(g))
	}
	return nil
}

func checkpointBytes(dir string) int64 {
	var n int64
	files, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

const gptqArithmeticTerms = "two forwards, one on the full-precision layer for the Hessians and one on the quantized layer for the next inputs; " +
	"the Hessians' upper triangles; per Hessian a Cholesky factorization and a triangular inverse; the column updates"

// gptqArithmetic is GPTQ's multiply-adds over a forward's for t
// calibration tokens in sequences of seqlen, counted from the shape as
// IST-DASLab's procedure (which ttq follows) spends them: d×d Hessians of
// the four distinct inputs (hidden for q/k/v and gate/up, q_dim for o_proj,
// intermediate for down_proj) summed over tokens, t·d(d+1)/2 each; d³/6 +
// d³/6 to factor and invert each; out·in²/2 for each linear's updates. It
// is the floor of GPTQ's time over the forward's when both run at the same
// arithmetic rate.
func gptqArithmetic(c model.Config, seqlen, t int) float64 {
	h, q, kv, inter := float64(c.HiddenSize), float64(c.QDim()), float64(c.KVDim()), float64(c.IntermediateSize)
	T := float64(t)
	lins := [][2]float64{{h, q}, {h, kv}, {h, kv}, {q, h}, {h, inter}, {h, inter}, {inter, h}} // in, out
	var fwd, upd float64
	for _, l := range lins {
		fwd += T * l[0] * l[1]
		upd += l[1] * l[0] * l[0] / 2
	}
	fwd += T * float64(seqlen) / 2 * q * 2 // causal scores and weighted values
	var hess, fact float64
	for _, d := range []float64{h, q, h, inter} {
		hess += T * d * (d + 1) / 2
		fact += d * d * d / 3
	}
	return (2*fwd + hess + fact + upd) / fwd
}
