package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"sync"
)

// buildIdentity names the code that computes cached rows. A release's
// version says it; a development build ("dev", the same string for every
// local change) is identified by the hash of its own executable, so that
// editing the code never serves rows computed by an older binary.
func buildIdentity() string {
	if version != "dev" {
		return version
	}
	buildIdentityOnce.Do(func() {
		buildIdentityValue = "dev"
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
			buildIdentityValue = "dev+" + hex.EncodeToString(h.Sum(nil))[:16]
		}
	})
	return buildIdentityValue
}

var (
	buildIdentityOnce  sync.Once
	buildIdentityValue string
)
