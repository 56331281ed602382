package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ttqproject/ttq/pkg/kernelbench"
)

func newBenchCmd(io *streams) *cobra.Command {
	opts := benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the compute kernels against this machine's own limits",
		Long: `Time the matrix products (float32, bfloat16 and quantized weights) and the
dot product, and measure in the same run the machine's limits: the peak FMA
rate of a register-only loop and the streaming read bandwidth of a buffer far
larger than the caches. Each kernel is reported in GFLOP/s and GB/s and as a
fraction of its roofline limit, min(peak FMA, flops per byte × bandwidth),
labelled compute- or memory-bound.

With no --kernel every kernel runs; with no --m/--k/--n each runs on the
standard shapes: k = n = 4096 at m = 512 (gemm*) or m = 1 (gemv*), the
11008×4096 MLP matrix for gemv-q4 and gemv-q4-i8 (int8 activations), and the demo model's 172×64 matrix.
Matrix-vector weights are cycled through copies of at least 128 MiB so they
come from memory. Quantized weights have zero points, in groups of --group
(128 unless given). Use the
global --threads to set the core count (the limits use the same).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBench(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Kernel, "kernel", "", "kernel to run: "+strings.Join(kernelbench.KernelNames(), "|")+" (default: all)")
	f.IntVar(&opts.M, "m", 0, "activation rows (default: the kernel's standard shapes)")
	f.IntVar(&opts.K, "k", 0, "inputs per row, the reduction length")
	f.IntVar(&opts.N, "n", 0, "weight rows (outputs)")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON document (schema ttq.bench/v1)")
	f.DurationVar(&opts.MinTime, "min-time", 300*time.Millisecond, "least time spent measuring each kernel and limit")
	f.IntVar(&opts.BufferMiB, "buffer-mib", 256, "size of the bandwidth probe's buffer")
	f.IntVar(&opts.Group, "group", 0, "group size of the quantized weights: 32, 64 or 128 (default 128)")
	return cmd
}

// benchOptions are kernelbench.Options and how the result is printed.
type benchOptions struct {
	kernelbench.Options
	JSON bool
}

func runBench(ctx context.Context, io *streams, opts benchOptions) error {
	res, err := kernelbench.Run(ctx, opts.Options)
	if err != nil {
		return err
	}
	lim := res.Limits
	if opts.JSON {
		return writeJSON(io.Out, res)
	}
	fmt.Fprintf(io.Out, "limits (%d threads, %s kernels): peak FMA %.1f GFLOP/s (register-only loop), read bandwidth %.1f GB/s (%d MiB buffer)\n",
		lim.Threads, res.Kernels, lim.PeakGFLOPS, lim.ReadGBps, lim.BufferMiB)
	var table [][]string
	for _, r := range res.Results {
		w := "warm"
		if r.Cold {
			w = "cold"
		}
		name := r.Kernel
		if r.Group > 0 {
			name = fmt.Sprintf("%s g%d", r.Kernel, r.Group)
		}
		table = append(table, []string{
			name, strconv.Itoa(r.M), strconv.Itoa(r.K), strconv.Itoa(r.N), w,
			fmt.Sprintf("%.3f", r.Seconds*1e3), fmt.Sprintf("%.1f", r.GFLOPS), fmt.Sprintf("%.1f", r.GBps),
			fmt.Sprintf("%s %.1f", r.Bound, r.Limit), fmt.Sprintf("%.0f%%", 100*r.Fraction),
		})
	}
	return renderTable(io.Out, []string{"kernel", "m", "k", "n", "weights", "ms", "GFLOP/s", "GB/s", "limit GFLOP/s", "of limit"}, table)
}
