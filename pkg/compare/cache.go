package compare

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ttqproject/ttq/internal/atomicfile"
)

// Fingerprint hashes everything a row's numbers depend on: the model's
// weights and tokenizer, the method and its every knob, the evaluated data
// (text hashes, windows, items, BOS) and the ttq version. Two runs with the
// same fingerprint compute the same row, so its result can be reused.
func Fingerprint(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		// encoding/json writes map keys sorted and struct fields in
		// declaration order, so equal values encode equally.
		b, err := json.Marshal(p)
		if err != nil {
			panic("compare: fingerprint of an unencodable value: " + err.Error())
		}
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Cache stores finished rows by fingerprint, one JSON file each, so that
// re-running a comparison after adding a method computes only the new
// rows. A zero Cache (empty Dir) stores nothing.
type Cache struct {
	Dir string
}

func (c Cache) path(fp string) string { return filepath.Join(c.Dir, fp[:2], fp+".json") }

// Get returns the cached row of a fingerprint, or ok = false. A damaged
// entry is treated as missing (it is recomputed and overwritten).
func (c Cache) Get(fp string) (Row, bool) {
	if c.Dir == "" || len(fp) < 2 {
		return Row{}, false
	}
	b, err := os.ReadFile(c.path(fp))
	if err != nil {
		return Row{}, false
	}
	var r Row
	if err := json.Unmarshal(b, &r); err != nil || r.Fingerprint != fp || !r.Complete || r.CheckFinite() != nil {
		return Row{}, false
	}
	return r, true
}

// Put stores a complete row; incomplete (interrupted) rows are not cached,
// and a row holding a non-finite number is an error (see Row.CheckFinite).
func (c Cache) Put(r Row) error {
	if c.Dir == "" || !r.Complete {
		return nil
	}
	if err := r.CheckFinite(); err != nil {
		return err
	}
	if len(r.Fingerprint) < 2 {
		return errors.New("compare: row without a fingerprint")
	}
	r.Cached = false
	r.Delta, r.StaticDeltas, r.MatchedBits = nil, nil, nil
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	p := c.path(r.Fingerprint)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	// Write-then-rename: concurrent shards sharing a cache directory
	// never see half a file.
	return atomicfile.WriteFile(p, b)
}

// DefaultCacheDir is ttq's cache under the user's cache directory.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "ttq", "compare"), nil
}

// Entries counts the cached rows (for tests and `--cache` reporting).
func (c Cache) Entries() int {
	n := 0
	_ = filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".json" {
			n++
		}
		return nil
	})
	return n
}
