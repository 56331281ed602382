// Package kernels holds the numeric inner loops of ttq: matrix products over
// weights kept in their stored element type, and the small vector kernels
// around them (dot products, normalization, softmax, activations).
//
// Layout conventions follow the checkpoints: a weight matrix is row-major
// [out][in] as Hugging Face stores linear layers, activations are row-major
// [tokens][features], and a product is always dst = x · Wᵀ.
//
// Programmer errors (mismatched lengths) panic with a "kernels:" prefix, as
// gonum's BLAS does; the callers validate user input long before this level.
package kernels
