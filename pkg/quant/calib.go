package quant

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
)

// SampleCalibration draws n windows of seqlen tokens at uniformly random
// offsets of tokens, as GPTQ's get_wikitext2/get_c4 crop the tokenized
// calibration text, from a generator seeded with seed alone: the same
// inputs give the same windows on every machine.
func SampleCalibration(tokens []int, n, seqlen int, seed uint64) ([][]int, error) {
	if n < 1 || seqlen < 1 {
		return nil, fmt.Errorf("quant: need at least one calibration sample of at least one token (got %d × %d)", n, seqlen)
	}
	if len(tokens) <= seqlen {
		return nil, fmt.Errorf("quant: calibration text has %d tokens; %d-token samples need more", len(tokens), seqlen)
	}
	rng := rand.New(rand.NewPCG(seed, 0x74747120636c6962)) // "ttq clib"
	out := make([][]int, n)
	for i := range out {
		start := rng.IntN(len(tokens) - seqlen)
		out[i] = tokens[start : start+seqlen : start+seqlen]
	}
	return out, nil
}

// SamplesSHA256 fingerprints calibration samples (their token ids), so a
// checkpoint records exactly what it was calibrated on.
func SamplesSHA256(samples [][]int) string {
	h := sha256.New()
	var b [8]byte
	for _, s := range samples {
		binary.LittleEndian.PutUint64(b[:], uint64(len(s)))
		h.Write(b[:])
		for _, t := range s {
			binary.LittleEndian.PutUint64(b[:], uint64(t))
			h.Write(b[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
