//go:build !purego

package kernels

import "golang.org/x/sys/cpu"

// hasAVX2 reports whether this CPU runs the assembly kernels. F16C is part
// of the requirement because the half-precision paths convert with
// VCVTPH2PS; every AVX2 CPU shipped so far has it.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// useAVX2 selects the assembly kernels. It is a variable only so that tests
// can run both paths on one machine; nothing else writes it.
var useAVX2 = hasAVX2 && !noASMFromEnv()

// hasAVX512 reports whether this CPU (and OS) runs the AVX-512 kernels:
// foundation, byte/word and vector-length extensions, on top of AVX2.
var hasAVX512 = hasAVX2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL

// useAVX512 selects the AVX-512 kernels where one exists; like useAVX2 it
// is a variable for the tests. TTQ_NOAVX512=1 keeps the AVX2 kernels.
var useAVX512 = hasAVX512 && useAVX2 && !envBool("TTQ_NOAVX512")

// hasVNNI512 reports whether the AVX-512 int8 dot product (VPDPBUSD) is
// there too; the int8-activation row kernel needs it, and useAVX512 gates
// it like every AVX-512 kernel.
var hasVNNI512 = hasAVX512 && cpu.X86.HasAVX512VNNI

// hasVBMI512 reports whether VPERMB is there as well: the int8-activation
// kernel for 8-bit codes reorders them with it.
var hasVBMI512 = hasVNNI512 && cpu.X86.HasAVX512VBMI
