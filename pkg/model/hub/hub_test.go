package hub_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/model/demo"
	"github.com/ttqproject/ttq/pkg/model/hub"
	"github.com/ttqproject/ttq/pkg/model/hub/hubtest"
)

func TestParseRef(t *testing.T) {
	for _, c := range []struct {
		in   string
		want hub.Ref
		ok   bool
	}{
		{"org/name", hub.Ref{"org/name", "main"}, true},
		{"meta-llama/Llama-3.2-1B@v1.0", hub.Ref{"meta-llama/Llama-3.2-1B", "v1.0"}, true},
		{"org/name@refs/pr/1", hub.Ref{"org/name", "refs/pr/1"}, true},
		{"org/name@0123456789abcdef0123456789abcdef01234567", hub.Ref{"org/name", "0123456789abcdef0123456789abcdef01234567"}, true},
		{"name", hub.Ref{}, false},
		{"a/b/c", hub.Ref{}, false},
		{"./name", hub.Ref{}, false},
		{"../name", hub.Ref{}, false},
		{"/abs/path", hub.Ref{}, false},
		{"org/", hub.Ref{}, false},
		{"org/na me", hub.Ref{}, false},
		{"org/a--b", hub.Ref{}, false},
		{"org/name@", hub.Ref{}, false},
		{"org/name@../../x", hub.Ref{}, false},
		{"org/name@/x", hub.Ref{}, false},
		{"builtin:stories260K", hub.Ref{}, false},
	} {
		got, ok := hub.ParseRef(c.in)
		if ok != c.ok || got != c.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestCacheDir(t *testing.T) {
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", "/home/u")
	check := func(want string) {
		t.Helper()
		if got, err := hub.CacheDir(); err != nil || got != want {
			t.Errorf("CacheDir() = %q, %v; want %q", got, err, want)
		}
	}
	check("/home/u/.cache/huggingface/hub")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	check("/xdg/huggingface/hub")
	t.Setenv("HF_HOME", "/hf")
	check("/hf/hub")
	t.Setenv("HUGGINGFACE_HUB_CACHE", "/old")
	check("/old")
	t.Setenv("HF_HUB_CACHE", "/new")
	check("/new")
}

func demoFiles(t *testing.T) map[string][]byte {
	files := map[string][]byte{}
	for _, name := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} {
		b, err := demo.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
	}
	return files
}

func TestSnapshot(t *testing.T) {
	cache := t.TempDir()
	files := demoFiles(t)
	main := hubtest.Add(t, cache, "org/name", "main", files)
	files["README.md"] = []byte("v2")
	v2 := hubtest.Add(t, cache, "org/name", "refs/pr/1", files)
	c := hub.Cache{Dir: cache}
	snap := func(rev string) string { return filepath.Join(cache, "models--org--name", "snapshots", rev) }
	for rev, want := range map[string]string{"main": snap(main), "refs/pr/1": snap(v2), v2: snap(v2)} {
		got, err := c.Snapshot(hub.Ref{Repo: "org/name", Revision: rev})
		if err != nil || got != want {
			t.Errorf("Snapshot(@%s) = %q, %v; want %q", rev, got, err, want)
		}
	}

	// The snapshot's symlinked blobs load as a model.
	m, err := model.Load(snap(main))
	if err != nil {
		t.Fatal(err)
	}
	m.Close()

	for _, c2 := range []struct {
		ref  hub.Ref
		want []string
	}{
		{hub.Ref{"org/name", "v9"}, []string{`no revision "v9"`, "refs present: main, refs/pr/1", filepath.Join(cache, "models--org--name", "refs")}},
		{hub.Ref{"org/other", "main"}, []string{"model org/other: no models--org--other in " + cache + " (set HF_HUB_CACHE or HF_HOME)"}},
		{hub.Ref{"org/name", strings.Repeat("ab", 20)}, []string{"commit abab", "no snapshot", main, v2}},
	} {
		_, err := c.Snapshot(c2.ref)
		for _, w := range c2.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Snapshot(%v) error %v, want it to contain %q", c2.ref, err, w)
			}
		}
	}

	// A ref naming a commit whose snapshot is gone, and a damaged ref.
	os.WriteFile(filepath.Join(cache, "models--org--name", "refs", "gone"), []byte(strings.Repeat("cd", 20)), 0o644)
	os.WriteFile(filepath.Join(cache, "models--org--name", "refs", "junk"), []byte("<html>"), 0o644)
	if _, err := c.Snapshot(hub.Ref{"org/name", "gone"}); err == nil || !strings.Contains(err.Error(), "revision gone (commit cdcd") {
		t.Errorf("dangling ref: %v", err)
	}
	if _, err := c.Snapshot(hub.Ref{"org/name", "junk"}); err == nil || !strings.Contains(err.Error(), "not a commit hash") {
		t.Errorf("junk ref: %v", err)
	}
}

func TestResolve(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	commit := hubtest.Add(t, cache, "org/name", "main", demoFiles(t))
	t.Chdir(t.TempDir())

	got, err := hub.Resolve("org/name@main")
	if err != nil || got != filepath.Join(cache, "models--org--name", "snapshots", commit) {
		t.Errorf("Resolve = %q, %v", got, err)
	}
	if repo, ok := hub.RepoOf(got); !ok || repo != "org/name" {
		t.Errorf("RepoOf(%s) = %q, %v", got, repo, ok)
	}
	if repo, ok := hub.RepoOf(cache); ok {
		t.Errorf("RepoOf(cache) = %q", repo)
	}
	// Not references: returned as they are, for the caller to open.
	for _, s := range []string{"", "builtin:stories260K", "some/deep/path", "./org/name"} {
		if got, err := hub.Resolve(s); err != nil || got != s {
			t.Errorf("Resolve(%q) = %q, %v", s, got, err)
		}
	}
	_, err = hub.Resolve("out/q4")
	if want := "model out/q4: no directory out/q4, and no models--out--q4 in " + cache; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Resolve(out/q4) error %v, want %q…", err, want)
	}
	// A local directory of the same name wins.
	if err := os.MkdirAll("org/name", 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := hub.Resolve("org/name"); err != nil || got != "org/name" {
		t.Errorf("local directory: Resolve = %q, %v", got, err)
	}
}
