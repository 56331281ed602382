// Package export writes ttq models in formats other tools load:
//
//   - AutoAWQ GEMM (WriteAWQ): a ttq 4-bit g128 quantized model, losslessly,
//     as the safetensors checkpoint with int32-packed qweight/qzeros and
//     f16 scales that transformers, vLLM and SGLang load as "awq";
//     ReadAWQ reads it back independently of pkg/quant.
//   - GGUF v3 (WriteGGUF): any ttq model with its tokenizer as llama.cpp
//     loads it, matrices as F32, F16, Q8_0 or Q4_0 quantized natively with
//     ggml's reference rounding (FORMATS §5.4).
//
// Run is `ttq export` as one call: it loads the model, refuses an output
// that would replace the model's own files, and writes either format.
//
// The byte layouts are FORMATS §5.1 and §5.4; every writer here has a
// reader (UnpackAWQ, DecodeRow) that the tests use against independent
// references (AutoAWQ's unpacking in PyTorch, gguf-parser-go).
package export
