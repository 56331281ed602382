package kernels

import (
	"os"
	"strconv"
)

// Accelerated names the kernel family in use: "avx2" when the AVX2+FMA
// assembly runs, "generic" for the pure-Go twins (no AVX2/FMA/F16C, the
// purego build tag, another architecture, or TTQ_NOASM set).
func Accelerated() string {
	if useAVX2 && useAVX512 {
		return "avx2+avx512"
	}
	if useAVX2 {
		return "avx2"
	}
	return "generic"
}

// noASMFromEnv reports whether TTQ_NOASM asks for the pure-Go kernels. It
// accepts what strconv.ParseBool accepts, so TTQ_NOASM=0 keeps the assembly.
func noASMFromEnv() bool { return envBool("TTQ_NOASM") }

// envBool reports whether the environment variable holds a true value as
// strconv.ParseBool reads it.
func envBool(name string) bool {
	v, err := strconv.ParseBool(os.Getenv(name))
	return err == nil && v
}

// SetAccelerated switches the assembly kernels on or off (off is what
// TTQ_NOASM=1 does at start-up, for a --no-asm flag) and reports whether
// they are on afterwards: asking for them where the CPU or the build lacks
// them leaves the generic kernels in place. Call it before running kernels,
// not concurrently with them.
func SetAccelerated(on bool) bool {
	useAVX2 = on && hasAVX2
	useAVX512 = useAVX2 && hasAVX512 && !envBool("TTQ_NOAVX512")
	return useAVX2
}
