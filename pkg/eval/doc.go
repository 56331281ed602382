// Package eval measures language models with published protocols, so that a
// number from ttq means what the same number means in a paper,
// lm-evaluation-harness or llama.cpp.
//
// Perplexity runs one of two named protocols (ProtocolGPTQ, the default of
// the GPTQ/AWQ/TTQ papers, and ProtocolLlamaCpp, llama-perplexity's) over a
// text cut into windows (TokenizeText, MakeWindows), each window one batched
// forward pass. Given a reference model it also reports the KL divergence of
// the next-token distributions (KLDivergence), the sensitive measure for
// quantization regressions. MultipleChoice scores PIQA (built in, as
// lm-evaluation-harness's piqa task) and any task in the same JSONL shape
// (ParseMC) by continuation log-likelihood, reporting acc and acc_norm.
//
// The model is seen only through the small Scorer interface (ModelScorer
// adapts a *model.Model), so the protocols are tested with fake scorers
// whose answers are known by hand. WikiText-2 raw (test, valid) and the PIQA
// validation split are embedded (data/README.md gives sources and licences).
//
// RunTask runs one evaluation by name, as `ttq eval` does: the dataset
// (wikitext, piqa, a text file or mc:FILE), the protocol and the limits in,
// a TaskResult out.
//
// All log-probabilities are computed in float64 with max subtraction from
// the model's float32 logits.
package eval
