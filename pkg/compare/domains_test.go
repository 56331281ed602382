package compare

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestDomainSlices checks the shipped slices against the hashes their
// README records, and that calibration and evaluation halves are disjoint.
func TestDomainSlices(t *testing.T) {
	f, err := os.Open("data/README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 2 && len(fs[0]) == 64 {
			want[fs[1]] = fs[0]
		}
	}
	if len(want) != 2*len(Domains) {
		t.Fatalf("README lists %d hashes, want %d", len(want), 2*len(Domains))
	}
	for _, d := range Domains {
		c, err := DomainText(d, "calib")
		if err != nil {
			t.Fatal(err)
		}
		e, err := DomainText(d, "eval")
		if err != nil {
			t.Fatal(err)
		}
		for part, txt := range map[string]string{"calib": c, "eval": e} {
			sum := sha256.Sum256([]byte(txt))
			if got := hex.EncodeToString(sum[:]); got != want[d+"."+part+".txt"] {
				t.Errorf("%s.%s.txt: sha256 %s, README says %s", d, part, got, want[d+"."+part+".txt"])
			}
			if len(txt) < 30000 || !utf8.ValidString(txt) {
				t.Errorf("%s.%s: %d bytes, valid UTF-8 %v", d, part, len(txt), utf8.ValidString(txt))
			}
		}
		if strings.Contains(c, e[:200]) || strings.Contains(e, c[len(c)-200:]) {
			t.Errorf("%s: calibration and evaluation halves overlap", d)
		}
	}
	if _, err := DomainText("ptb", "eval"); err == nil {
		t.Error("ptb is not a built-in domain (and must never be)")
	}
}
