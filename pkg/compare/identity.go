package compare

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
)

// BuildIdentity names the code that computes cached rows. A release's
// version says it; a development build ("dev", the same string for every
// local change) is identified by the hash of the running executable, so
// that editing the code never serves rows computed by an older binary.
func BuildIdentity(version string) string {
	if version != "dev" {
		return version
	}
	devIdentityOnce.Do(func() {
		devIdentity = "dev"
		exe, err := os.Executable()
		if err != nil {
			return
		}
		f, err := os.Open(exe)
		if err != nil {
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			devIdentity = "dev+" + hex.EncodeToString(h.Sum(nil))[:16]
		}
	})
	return devIdentity
}

var (
	devIdentityOnce sync.Once
	devIdentity     string
)
