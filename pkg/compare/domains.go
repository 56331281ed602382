package compare

import (
	"embed"
	"fmt"
	"slices"
	"strings"
)

//go:embed data/*.txt
var domainFS embed.FS

// Domains are the built-in domain slices (data/README.md gives sources and
// licences), usable as calibration and evaluation domains.
var Domains = []string{"wikipedia", "c4", "shakespeare", "go", "japanese"}

// IsDomain reports whether name is a built-in domain.
func IsDomain(name string) bool { return slices.Contains(Domains, name) }

// DomainText returns a built-in domain's calibration ("calib") or
// evaluation ("eval") half; the two never overlap.
func DomainText(name, part string) (string, error) {
	if !IsDomain(name) {
		return "", fmt.Errorf("compare: unknown domain %q (built in: %s)", name, strings.Join(Domains, ", "))
	}
	if part != "calib" && part != "eval" {
		return "", fmt.Errorf("compare: domain part %q: want calib or eval", part)
	}
	b, err := domainFS.ReadFile("data/" + name + "." + part + ".txt")
	if err != nil {
		return "", err
	}
	return string(b), nil
}
