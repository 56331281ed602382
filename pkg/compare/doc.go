// Package compare puts quantization methods side by side on the same model
// and data: Run quantizes the model once per row (method × bits, ×
// calibration domain for the static methods), evaluates every row on the
// identical perplexity windows and multiple-choice items, and returns a
// Report with each metric's paired difference to the baseline row —
// standard errors of per-token NLL and KL differences, McNemar's exact test
// for accuracy — so that "better" means more than noise.
//
// Options in, Report out: Options holds what `ttq compare` takes as flags
// (DefaultOptions are its defaults), progress arrives through
// Options.Progress, and nothing is printed; Report.Table, DomainMatrix,
// WriteMarkdown and WritePlots render a report, Merge joins the reports of
// shards (Options.Shard), and Gate recomputes a committed baseline report
// and judges every row × metric against it (Judge, Tolerance; WriteJUnit
// and GitHubAnnotations tell CI).
//
// Rows are cached by a fingerprint of model, method settings, data and
// build (Cache), so adding a method recomputes only the new rows.
package compare
