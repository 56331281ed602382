package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"golang.org/x/term"
)

// Exit codes, documented in `ttq help exit-codes`.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitRegression  = 3
	exitInterrupted = 130
)

// streams carries the command's input and outputs so tests can capture them.
type streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// ErrTTY: stderr is a terminal, so progress bars may be drawn there.
	ErrTTY bool
}

func systemStreams() *streams {
	return &streams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		ErrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
}

// usageError marks errors in how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func newRootCmd(io *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "ttq",
		Short: "Quantize Llama-family models and measure what it costs and buys",
		Long: `ttq loads Hugging Face checkpoints of Llama-family models (Llama 2/3, Mistral,
Qwen2, Qwen3), runs them in pure Go, quantizes them, and evaluates the result.

With no --model, commands use the built-in demo model (stories260K).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionString(),
	}
	var threads int
	var noASM bool
	root.PersistentFlags().IntVar(&threads, "threads", 0, "goroutines for the compute kernels (default: all cores)")
	root.PersistentFlags().BoolVar(&noASM, "no-asm", false, "use the pure-Go kernels instead of assembly (same as TTQ_NOASM=1)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if threads < 0 {
			return usagef("--threads must be >= 0, got %d", threads)
		}
		kernels.SetThreads(threads)
		if noASM {
			kernels.SetAccelerated(false)
		}
		return nil
	}
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	root.SetIn(io.In)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newVersionCmd(io),
		newImportCmd(io),
		newInspectCmd(io),
		newGenerateCmd(io),
		newEvalCmd(io),
		newQuantizeCmd(io),
		newCompareCmd(io),
		newExportCmd(io),
		newBenchCmd(io),
		newExitCodesHelp(),
	)
	typeArgErrors(root)
	return root
}

// typeArgErrors makes the errors of cobra's argument validators (NoArgs,
// MaximumNArgs, ...) usage errors, in c and every command below it; flag
// errors are typed by the root's FlagErrorFunc.
func typeArgErrors(c *cobra.Command) {
	if validate := c.Args; validate != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := validate(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		typeArgErrors(sub)
	}
}

// execute runs the command line with cobra and returns its error, typed: a
// command line that names no command (cobra's Find refuses it, before any
// validator or flag parsing runs, with a plain error) is a usage error too.
func execute(ctx context.Context, root *cobra.Command, args []string) error {
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return nil
	}
	if _, _, ferr := root.Find(args); ferr != nil {
		return usageError{err}
	}
	return err
}

func newExitCodesHelp() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "Exit codes of ttq commands",
		Long: `ttq exits with:
  0    success
  1    runtime failure (bad input files, I/O errors, ...)
  2    usage error (unknown flag, bad flag value, missing argument)
  3    completed, but a regression gate failed
  130  interrupted (Ctrl-C); partial results are printed first`,
	}
}

// run executes the command line and returns the process exit code. Errors
// are printed once, as one line, on stderr.
func run(args []string, io *streams) (code int) {
	// A panic is a bug in ttq, but the user still gets one line, not a
	// stack trace.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(io.ErrOut, "ttq: internal error (please report it): %v\n", r)
			code = exitError
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := execute(ctx, newRootCmd(io), args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(io.ErrOut, "ttq: %v\n", err)
	var ue usageError
	var oe *model.OptionError
	var re regressionError
	switch {
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &re):
		return exitRegression
	case errors.As(err, &ue), errors.As(err, &oe):
		return exitUsage
	}
	return exitError
}
