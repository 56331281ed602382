package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/ttqproject/ttq/pkg/kernels"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/quant"
)

type generateOptions struct {
	Model       string
	Prompt      string
	MaxTokens   int
	Temperature float64
	TopP        float64
	Seed        uint64
	NoBOS       bool
	JSON        bool
	Warmup      bool
	Activations string
	Method      methodOptions
}

func (o generateOptions) validate() error {
	if o.MaxTokens < 1 {
		return usagef("--max-tokens must be at least 1, got %d", o.MaxTokens)
	}
	if o.Temperature < 0 {
		return usagef("--temperature must be >= 0, got %g", o.Temperature)
	}
	if !(o.TopP > 0 && o.TopP <= 1) {
		return usagef("--top-p must be in (0, 1], got %g", o.TopP)
	}
	if o.Activations != "int8" && o.Activations != "f32" {
		return usagef("--activations %q: want int8 or f32", o.Activations)
	}
	return nil
}

type generateResult struct {
	Schema         string              `json:"schema"`
	Model          string              `json:"model"`
	Quantization   *quant.MethodResult `json:"quantization,omitempty"`
	Prompt         string              `json:"prompt"`
	PromptTokens   []int               `json:"prompt_tokens"`
	Text           string              `json:"text"`
	Tokens         []int               `json:"tokens"`
	StopReason     string              `json:"stop_reason"`
	Temperature    float64             `json:"temperature"`
	TopP           float64             `json:"top_p"`
	Seed           uint64              `json:"seed"`
	PrefillSeconds float64             `json:"prefill_seconds"`
	DecodeSeconds  float64             `json:"decode_seconds"`
	DecodeTokPerS  float64             `json:"decode_tokens_per_second"`
	// Warmup: the timings are of a second pass, after an untimed one.
	Warmup      bool   `json:"warmup"`
	Activations string `json:"activations"`
	// TTQCalibSeconds is the part of the prefill spent taking statistics
	// and re-quantizing (test-time methods only).
	TTQCalibSeconds *float64 `json:"ttq_calibration_seconds,omitempty"`
}

func newGenerateCmd(io *streams) *cobra.Command {
	opts := generateOptions{}
	cmd := &cobra.Command{
		Use:   "generate [MODEL]",
		Short: "Generate text from a prompt, streaming it to stdout",
		Long: `Generate text from a prompt. MODEL is a Hugging Face model directory
(config.json, *.safetensors, tokenizer.json); without it the built-in demo
model is used. Decoding is greedy when --temperature is 0.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := modelArg(args, opts.Model)
			if err != nil {
				return err
			}
			opts.Model = dir
			if err := opts.validate(); err != nil {
				return err
			}
			return runGenerate(cmd.Context(), io, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Model, "model", "", modelFlagUsage)
	f.StringVarP(&opts.Prompt, "prompt", "p", "", "prompt text (BOS is prepended when the tokenizer defines one)")
	f.IntVarP(&opts.MaxTokens, "max-tokens", "n", 256, "maximum number of tokens to generate")
	f.Float64VarP(&opts.Temperature, "temperature", "t", 0, "sampling temperature; 0 means greedy")
	f.Float64Var(&opts.TopP, "top-p", 0.9, "nucleus sampling mass")
	f.Uint64Var(&opts.Seed, "seed", 0, "random seed for sampling")
	f.BoolVar(&opts.NoBOS, "no-bos", false, "do not add the tokenizer's special tokens (BOS) to the prompt")
	f.BoolVar(&opts.JSON, "json", false, "print one JSON document instead of streaming text")
	f.BoolVar(&opts.Warmup, "warmup", false, "run the prompt and one decode step once, untimed, before the request, as llama-bench does: the timings leave out the first touch of weights and buffers")
	f.StringVar(&opts.Activations, "activations", "int8", "activations of the decode steps' quantized matrix products: int8 (per block of 32, as llama.cpp's Q8_0; +0.2 % perplexity on the demo and babyllama, README \"Kernels\") or f32 (exactly the prefill's arithmetic)")
	// A generated answer is what TTQ is for: the prompt at full precision,
	// the tokens on the weights quantized for it.
	opts.Method.TTQPrefill = "dense"
	addMethodFlags(f, &opts.Method, "quantize the model in memory before generating: rtn, awq, gptq or ttq (default: run as loaded)")
	return cmd
}

func runGenerate(ctx context.Context, io *streams, opts generateOptions) error {
	lm, err := loadModel(opts.Model)
	if err != nil {
		return err
	}
	defer lm.Model.Close()
	mres, err := applyMethod(ctx, io, lm, opts.Method)
	if err != nil {
		return err
	}
	defer kernels.SetInt8Activations(kernels.SetInt8Activations(opts.Activations == "int8"))
	res := generateResult{
		Schema: "ttq.generate/v1", Model: lm.Source, Activations: opts.Activations, Prompt: opts.Prompt,
		Temperature: opts.Temperature, TopP: opts.TopP, Seed: opts.Seed, Quantization: mres, Warmup: opts.Warmup,
	}
	var calib0 time.Duration
	g := model.GenerateOptions{
		Prompt: opts.Prompt, NoBOS: opts.NoBOS, MaxTokens: opts.MaxTokens,
		Temperature: opts.Temperature, TopP: opts.TopP, Seed: opts.Seed, Warmup: opts.Warmup,
		Prefilling: func() { calib0, _ = quant.TTQStats(lm.Model) },
		Prefilled: func() {
			if calib, n := quant.TTQStats(lm.Model); n > 0 {
				sec := (calib - calib0).Seconds()
				res.TTQCalibSeconds = &sec
			}
		},
	}
	if !opts.JSON {
		g.EchoPrompt = true
		g.Text = func(s string) error {
			_, err := fmt.Fprint(io.Out, s)
			return err
		}
	}
	gen, err := model.Generate(ctx, lm.Model, lm.Tokenizer, g)
	if err != nil {
		return err
	}
	res.PromptTokens, res.Text, res.Tokens, res.StopReason = gen.PromptTokens, gen.Text, gen.Tokens, gen.StopReason
	res.PrefillSeconds, res.DecodeSeconds, res.DecodeTokPerS = gen.PrefillSeconds, gen.DecodeSeconds, gen.DecodeTokPerS
	prompt := gen.PromptTokens
	if opts.JSON {
		if err := writeJSON(io.Out, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(io.Out)
		fmt.Fprintf(io.ErrOut, "ttq: %d prompt tokens in %.3fs, %d tokens generated at %.1f tokens/s (%s)\n",
			len(prompt), res.PrefillSeconds, len(res.Tokens), res.DecodeTokPerS, res.StopReason)
	}
	if res.StopReason == "interrupted" {
		return context.Canceled
	}
	return nil
}
