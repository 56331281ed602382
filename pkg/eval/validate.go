package eval

import (
	"encoding/json"
	"runtime"

	"github.com/ttqproject/ttq/pkg/model"
)

// ValidateBOSAndProtocol checks a BOS policy and a perplexity protocol by
// name, as eval and compare take them; bad values are *model.OptionError.
func ValidateBOSAndProtocol(bos, protocol string) error {
	if _, err := ParseBOSPolicy(bos); err != nil {
		return model.OptionErrorf("--bos %q: want auto, on or off", bos)
	}
	if _, err := ParseProtocol(protocol); err != nil {
		return model.OptionErrorf("--protocol %q: want gptq or llamacpp", protocol)
	}
	return nil
}

// ItemsSHA256 hashes the evaluated items (context, choices, label) rather
// than the file, so a relabelled or reformatted file is told apart only when
// what is scored changes.
func ItemsSHA256(items []MCItem) string {
	b, _ := json.Marshal(items)
	return model.BytesSHA256(b)
}

// SplitThreads turns a thread count (0: every core) and a number of
// windows or items evaluated at once (0: choose) into the threads in all
// and the workers. Tiny models cannot keep several cores busy inside one
// forward pass, so by default they evaluate one window per thread instead;
// larger ones one window at a time on every thread.
func SplitThreads(threads, parallel int, cfg model.Config) (int, int) {
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	if parallel == 0 {
		parallel = 1
		if cfg.HiddenSize <= 512 {
			parallel = threads
		}
	}
	return threads, parallel
}
