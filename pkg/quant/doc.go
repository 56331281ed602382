// Package quant holds ttq's weight-only integer quantization: the storage
// formats (bits, group geometry, rounding grids, packing), QLinear — a
// packed layer that stands in for a model.Dense through the model.Linear
// interface — and the calibrators that decide what gets rounded how:
//
//   - rtn: round to nearest per group (METHODS §1), no data;
//   - awq: activation-aware per-channel scales searched on calibration data
//     and folded into the previous operator, plus a clipping search (§3);
//   - gptq: second-order error compensation with the inverse Hessian of the
//     calibration inputs (§4);
//   - ttq: test-time quantization, calibrated on each request's own prompt
//     (§2): installed as request-scoped layers that quantize on the first
//     forward pass after model.BeginRequest.
//
// Static methods run block by block over cached hidden states (one decoder
// layer's activations in memory at a time) and leave QLinear layers in the
// model; Save writes them as a safetensors checkpoint that Load reads back.
//
// The whole job from Go: LoadModel opens any model (a directory, a ttq
// checkpoint, or "" for the demo) with its tokenizer; MethodOptions names
// every knob of every method as the command line does (DefaultMethodOptions,
// Knobs, SetKnob) and ApplyMethod quantizes the loaded model in place,
// reading the calibration text (CalibrationText) for awq and gptq;
// SaveModel writes the result as a model directory LoadModel opens again.
// The commands' whole jobs are single calls too: QuantizeModel (`ttq
// quantize`, resumable), Evaluate (`ttq eval`) and Describe (`ttq
// inspect`).
package quant
