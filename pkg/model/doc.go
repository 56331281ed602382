// Package model runs Llama-family decoders (Llama 2/3, Mistral, Qwen2,
// Qwen3) in pure Go from Hugging Face checkpoints: Config reads
// config.json, Load opens a model directory (weights stay memory-mapped in
// their stored type), Forward runs tokens through a State (the key/value
// cache) and Generate continues a prompt with a Sampler.
//
// Weights are [out][in] row-major as in Hugging Face; activations are
// [tokens][dim]. Every linear layer is a Linear, so quantized layers
// (package quant) replace model.Dense ones without the model knowing, and
// calibration reaches the model only through SetLinear and Sites. The
// built-in demo model is in package demo, checkpoints in safetensors,
// tokenizers in tokenizer, hub caches in hub.
//
// Bad option values anywhere in ttq's packages are *OptionError, so that a
// caller can tell them from failures of the model, the data or the
// machine.
package model
