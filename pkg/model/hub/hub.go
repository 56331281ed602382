// Package hub finds models in a Hugging Face hub cache, the directory that
// huggingface_hub (transformers, huggingface-cli download) fills, so a model
// is named as org/name[@revision] instead of by its snapshot path.
//
// The cache is read offline and never written:
//
//	<cache>/models--org--name/refs/<revision>    a commit hash (default revision "main")
//	<cache>/models--org--name/snapshots/<hash>/  the checkpoint's files, as
//	                                             symlinks to ../../blobs/<sha>
//
// A revision that is itself a 40-digit commit hash names its snapshot
// directly. Functions return errors and print nothing.
package hub

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultRevision is the revision of a reference without @revision.
const DefaultRevision = "main"

// Ref names a model repository of the hub and a revision of it.
type Ref struct {
	Repo     string // "org/name"
	Revision string // a branch or tag under refs/, or a commit hash
}

func (r Ref) String() string { return r.Repo + "@" + r.Revision }

// ParseRef reads org/name or org/name@revision. It reports false for
// anything else (paths with more or fewer components, names starting with
// "." or containing characters a hub repository id cannot), so a local path
// is never mistaken for a reference.
func ParseRef(s string) (Ref, bool) {
	repo, rev, hasRev := strings.Cut(s, "@")
	if hasRev && !validRevision(rev) {
		return Ref{}, false
	}
	if !hasRev {
		rev = DefaultRevision
	}
	org, name, ok := strings.Cut(repo, "/")
	if !ok || !validRepoPart(org) || !validRepoPart(name) {
		return Ref{}, false
	}
	return Ref{Repo: repo, Revision: rev}, true
}

// validRepoPart follows the hub's repository id rules: letters, digits and
// "-_." , not starting with "-" or ".", no "--" or "..", at most 96 bytes.
func validRepoPart(s string) bool {
	if s == "" || len(s) > 96 || s[0] == '-' || s[0] == '.' || strings.Contains(s, "--") || strings.Contains(s, "..") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// validRevision accepts branch and tag names (slashes allowed, as in
// refs/pr/1) that cannot leave the refs directory.
func validRevision(s string) bool {
	if s == "" || strings.HasPrefix(s, "/") || strings.ContainsAny(s, "\\\x00") {
		return false
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// IsCommit reports whether rev is a full 40-digit hexadecimal commit hash.
func IsCommit(rev string) bool {
	if len(rev) != 40 {
		return false
	}
	for _, c := range rev {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// CacheDir returns the hub cache directory the way huggingface_hub finds it:
// $HF_HUB_CACHE (or the older $HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub,
// else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. The
// directory need not exist.
func CacheDir() (string, error) {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("HUGGINGFACE_HUB_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub"), nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("hub: no cache directory (set HF_HUB_CACHE or HF_HOME): %w", err)
	}
	return filepath.Join(home, ".cache", "huggingface", "hub"), nil
}

// Cache is a hub cache directory.
type Cache struct {
	Dir string
}

// RepoDir is where the cache keeps a repository: models--org--name.
func (c Cache) RepoDir(repo string) string {
	return filepath.Join(c.Dir, repoDirName(repo))
}

func repoDirName(repo string) string {
	return "models--" + strings.ReplaceAll(repo, "/", "--")
}

// Snapshot returns the snapshot directory of ref: refs/<revision> read for
// its commit hash (a commit hash revision is taken as is), then
// snapshots/<hash>, which must exist.
func (c Cache) Snapshot(ref Ref) (string, error) {
	repoDir := c.RepoDir(ref.Repo)
	if st, err := os.Stat(repoDir); err != nil || !st.IsDir() {
		return "", &NotCachedError{Repo: ref.Repo, Cache: c.Dir}
	}
	commit := ref.Revision
	if !IsCommit(commit) {
		b, err := os.ReadFile(filepath.Join(repoDir, "refs", filepath.FromSlash(ref.Revision)))
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("model %s: no revision %q in %s (refs present: %s)", ref.Repo, ref.Revision,
				filepath.Join(repoDir, "refs"), listOrNone(refsIn(filepath.Join(repoDir, "refs"))))
		}
		if err != nil {
			return "", fmt.Errorf("model %s: %w", ref, err)
		}
		commit = strings.TrimSpace(string(b))
		if !IsCommit(commit) {
			return "", fmt.Errorf("model %s: %s holds %q, not a commit hash", ref, filepath.Join(repoDir, "refs", filepath.FromSlash(ref.Revision)), truncate(commit, 60))
		}
	}
	snap := filepath.Join(repoDir, "snapshots", commit)
	if st, err := os.Stat(snap); err != nil || !st.IsDir() {
		what := "commit " + commit
		if commit != ref.Revision {
			what = fmt.Sprintf("revision %s (commit %s)", ref.Revision, commit)
		}
		return "", fmt.Errorf("model %s: %s has no snapshot in %s (snapshots present: %s)", ref.Repo, what,
			filepath.Join(repoDir, "snapshots"), listOrNone(dirsIn(filepath.Join(repoDir, "snapshots"))))
	}
	return snap, nil
}

// Resolve returns the directory a model argument names: spec itself when it
// exists on disk (a local directory wins over the hub reading) or is not of
// the form org/name[@revision]; otherwise the snapshot of that reference in
// the cache CacheDir returns.
func Resolve(spec string) (string, error) {
	if _, err := os.Stat(spec); err == nil {
		return spec, nil
	}
	ref, ok := ParseRef(spec)
	if !ok {
		return spec, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	snap, err := Cache{Dir: dir}.Snapshot(ref)
	var nc *NotCachedError
	if errors.As(err, &nc) {
		nc.local = spec
	}
	return snap, err
}

// NotCachedError reports a repository the cache does not hold.
type NotCachedError struct {
	Repo  string // org/name
	Cache string // the cache directory looked in
	local string // the argument, when it is no local directory either
}

func (e *NotCachedError) Error() string {
	local := ""
	if e.local != "" {
		local = fmt.Sprintf("no directory %s, and ", e.local)
	}
	return fmt.Sprintf("model %s: %sno %s in %s (set HF_HUB_CACHE or HF_HOME)", e.Repo, local, repoDirName(e.Repo), e.Cache)
}

// RepoOf reports the repository whose snapshot directory dir is
// (<cache>/models--org--name/snapshots/<hash>), as "org/name".
func RepoOf(dir string) (string, bool) {
	dir = filepath.Clean(dir)
	snaps, repoDir := filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))
	name, ok := strings.CutPrefix(filepath.Base(repoDir), "models--")
	if !ok || filepath.Base(snaps) != "snapshots" || !IsCommit(filepath.Base(dir)) {
		return "", false
	}
	org, rest, ok := strings.Cut(name, "--")
	if !ok || !validRepoPart(org) || !validRepoPart(rest) {
		return "", false
	}
	return org + "/" + rest, true
}

// refsIn lists the revisions under a refs directory, nested ones (refs/pr/1)
// by their slash path.
func refsIn(dir string) []string {
	var refs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if rel, err := filepath.Rel(dir, p); err == nil {
			refs = append(refs, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(refs)
	return refs
}

func dirsIn(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
