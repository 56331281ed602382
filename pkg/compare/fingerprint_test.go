package compare

import (
	"strings"
	"testing"
)

// pinnedFingerprints are the cache keys of rows compare computed before
// rows for TTQ variants (ttq:PRESET) and lists of groups existed, for a
// fixed build identity, model and data: a change here silently discards
// (or, worse, reuses) users' cached rows.
var pinnedFingerprints = map[string]string{
	"fp":              "6d461fddfc95dc1661b72796fb91c54e4b366d51530d908ab0242b3858841960",
	"rtn-w3-g128":     "3120148f65531378a1e4ba65395356f8e8238a77c82ca27d08eb8b5883b4eef9",
	"rtn-w4-g128":     "cf42ee8c6115ba8a6c3c0606bc57a61619b8136c6bc5c0f096caa2d382bdccc3",
	"awq-w3-g128@go":  "531c8e7e71aebbaecb567749cbc011a71916c7054958433a14604d752ebfcd0b",
	"awq-w4-g128@go":  "74f7400090772507cde423ee18d077ac157c03ba1fec28ece8ca2ab96318448e",
	"gptq-w3-g128@go": "f9e0d2e64fe9918ad15ec81d0f4d4f35b0b6a88045595b705db14b5296932300",
	"gptq-w4-g128@go": "ba182423a9e25f2de1c5d44a772978addca8a9afba98f60e21262b36074a2b81",
	"ttq-w3-g128":     "3563593379b861007333053dfd0e20ca62504ef9ae8afd021b87a28f2e902069",
	"ttq-w4-g128":     "781a1c815da2b4f6dc2f2057d2897ac3ebc9fff29469498646a30a7565efb0f0",
}

func pinnedOptions() Options {
	o := DefaultOptions()
	o.CalibDomains = []string{"go"}
	o.BuildIdentity = "pin"
	return o
}

func TestFingerprintsPinned(t *testing.T) {
	o := pinnedOptions()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	specs := o.RowSpecs()
	info := ModelInfo{Name: "m", SHA256: "x", TokenizerSHA256: "y"}
	infos := []DatasetInfo{{Name: "wikitext", Kind: KindPerplexity, SHA256: "z", Windows: 4}}
	fps, err := o.fingerprints(info, specs, infos)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i, s := range specs {
		lines = append(lines, s.ID()+" "+fps[i])
		if want, ok := pinnedFingerprints[s.ID()]; !ok {
			t.Errorf("%s: no pinned fingerprint", s.ID())
		} else if want != fps[i] {
			t.Errorf("%s: fingerprint %s, pinned %s", s.ID(), fps[i], want)
		}
	}
	t.Log("\n" + strings.Join(lines, "\n"))
}

// A TTQ row whose options read the calibration text (low rank act-static)
// is keyed by that text; one that does not, by none.
func TestFingerprintTTQCalib(t *testing.T) {
	info := ModelInfo{Name: "m", SHA256: "x", TokenizerSHA256: "y"}
	infos := []DatasetInfo{{Name: "wikitext", Kind: KindPerplexity, SHA256: "z", Windows: 4}}
	spec := []RowSpec{{Method: "ttq", Bits: 4, Group: 128}}
	fp := func(lowRank, calib string) string {
		o := pinnedOptions()
		o.Knobs.TTQLowRank, o.Calib = lowRank, calib
		fps, err := o.fingerprints(info, spec, infos)
		if err != nil {
			t.Fatal(err)
		}
		return fps[0]
	}
	if fp("act-static", "wikitext:valid") == fp("act-static", "piqa") {
		t.Error("act-static rows calibrated on different texts share a cache key")
	}
	if fp("none", "wikitext:valid") != fp("none", "piqa") {
		t.Error("the closed form's key depends on --calib, which it never reads")
	}
}
