package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ttqproject/ttq/pkg/compare"
)

// treeHash hashes every file below dir (names and contents; only names
// for a compare cache, whose rows record timings); leftovers named
// .*.tmp-* are listed apart.
func treeHash(t *testing.T, dir string) (string, []string) {
	t.Helper()
	h := sha256.New()
	var tmps []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		if strings.Contains(d.Name(), ".tmp-") {
			tmps = append(tmps, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\n", rel)
		if !d.IsDir() && filepath.Ext(p) != ".json" {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil)), tmps
}

// faultCommand is a command killed by TestFaultsLeaveNoPartialOutput.
type faultCommand struct {
	name string
	// args for input directory in, output out, cache directory cache.
	args func(in, out, cache string) []string
	// output is what the run produces (hashed to compare with a clean run).
	output func(out, cache string) string
}

func TestFaultsLeaveNoPartialOutput(t *testing.T) {
	bin := builtTTQ(t)
	cmds := []faultCommand{
		{"quantize", func(in, out, _ string) []string {
			return []string{"quantize", in, "--method", "awq", "--nsamples", "2", "--calib-seqlen", "32", "-o", out}
		}, func(out, _ string) string { return out }},
		{"export", func(in, out, _ string) []string {
			return []string{"export", in, "--format", "gguf", "-o", filepath.Join(out, "m.gguf")}
		}, func(out, _ string) string { return out }},
		{"compare", func(in, _, cache string) []string {
			return []string{"compare", "--model", in, "--methods", "fp,rtn", "--bits", "4", "--max-windows", "1", "--max-items", "4", "--cache", cache}
		}, func(_, cache string) string { return cache }},
	}
	delays := []time.Duration{0, 60 * time.Millisecond, 300 * time.Millisecond}
	if testing.Short() {
		delays = delays[1:]
	}
	for _, fc := range cmds {
		t.Run(fc.name, func(t *testing.T) {
			root := t.TempDir()
			in := demoModel(t, root)
			inHash, _ := treeHash(t, in)
			run := func(out, cache string, sig syscall.Signal, delay time.Duration) (int, string) {
				var errOut bytes.Buffer
				cmd := exec.Command(bin, fc.args(in, out, cache)...)
				cmd.Stderr = &errOut
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				if sig != 0 {
					time.Sleep(delay)
					cmd.Process.Signal(sig)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case <-done:
				case <-time.After(subprocessTimeout):
					cmd.Process.Kill()
					t.Fatalf("%s still running after %v", fc.name, subprocessTimeout)
				}
				return cmd.ProcessState.ExitCode(), errOut.String()
			}
			newDirs := func(tag string) (string, string) {
				d := filepath.Join(root, tag)
				cache := filepath.Join(d, "cache")
				if err := os.MkdirAll(cache, 0o755); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(d, "out")
				if fc.name == "export" {
					os.Mkdir(out, 0o755)
				}
				return out, cache
			}
			out, cache := newDirs("clean")
			if code, errOut := run(out, cache, 0, 0); code != 0 {
				t.Fatalf("clean run: exit %d: %s", code, errOut)
			}
			want, _ := treeHash(t, fc.output(out, cache))
			for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
				for i, delay := range delays {
					tag := fmt.Sprintf("%v-%d", sig, i)
					out, cache := newDirs(tag)
					code, errOut := run(out, cache, sig, delay)
					got, tmps := treeHash(t, fc.output(out, cache))
					// A kill that lands after the output's rename but before
					// the exit leaves the whole output: that is finished too.
					finished := code == 0 || (fc.name != "compare" && len(tmps) == 0 && got == want)
					switch {
					case finished:
						if got != want {
							t.Errorf("%s after %v: finished but its output differs from a clean run's", sig, delay)
						}
					case sig == syscall.SIGINT && code != exitInterrupted && code != -1:
						// (-1: the signal came before Go installed its
						// handler and the default action ended the process.)
						t.Errorf("SIGINT after %v: exit %d, want %d: %s", delay, code, exitInterrupted, errOut)
					case fc.name == "compare":
						checkCacheEntries(t, cache)
					default:
						if _, err := os.Stat(filepath.Join(out, "m.gguf")); fc.name == "export" && err == nil {
							t.Errorf("%s after %v: export left %s", sig, delay, out)
						}
						if _, err := os.Stat(out); fc.name == "quantize" && err == nil {
							t.Errorf("%s after %v: quantize left %s", sig, delay, out)
						}
					}
					if sig == syscall.SIGINT && len(tmps) > 0 {
						t.Errorf("SIGINT after %v left temporary files %v", delay, tmps)
					}
					if h, _ := treeHash(t, in); h != inHash {
						t.Fatalf("%s after %v changed the input", sig, delay)
					}
					if finished {
						continue
					}
					// A rerun over whatever was left succeeds and matches.
					if code, errOut := run(out, cache, 0, 0); code != 0 {
						t.Fatalf("rerun after %s at %v: exit %d: %s", sig, delay, code, errOut)
					}
					if got, _ := treeHash(t, fc.output(out, cache)); got != want {
						t.Errorf("rerun after %s at %v: output differs from a clean run's", sig, delay)
					}
				}
			}
		})
	}
}

// checkCacheEntries fails unless every cache file is a complete row.
func checkCacheEntries(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, ".tmp-") {
			return err
		}
		b, err := os.ReadFile(p)
		var r compare.Row
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil || !r.Complete || r.CheckFinite() != nil {
			t.Errorf("cache entry %s is damaged (%v)", p, err)
		}
		return nil
	})
}

// Four compare processes sharing one cache directory produce the same
// report and whole entries.
func TestConcurrentCompareShareCache(t *testing.T) {
	builtTTQ(t)
	cache := t.TempDir()
	args := []string{"compare", "--methods", "fp,rtn", "--bits", "4", "--max-windows", "1", "--max-items", "4", "--json", "--cache", cache}
	var wg sync.WaitGroup
	outs := make([]string, 4)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, errOut := runBinary(t, nil, args...)
			if code != 0 {
				t.Errorf("compare %d: exit %d: %s", i, code, errOut)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	var reps []string
	for _, out := range outs {
		rep, err := compare.Parse([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		stripTimes(rep)
		for i := range rep.Rows {
			rep.Rows[i].Cached = false
		}
		b, _ := json.Marshal(rep)
		reps = append(reps, string(b))
	}
	for i := range reps {
		if reps[i] != reps[0] {
			t.Errorf("compare %d's report differs from compare 0's", i)
		}
	}
	if n := (compare.Cache{Dir: cache}).Entries(); n != 2 {
		t.Errorf("%d cache entries, want 2", n)
	}
	checkCacheEntries(t, cache)
}

// A full file system gives one clear error and no partial file. It needs a
// small tmpfs, so it runs only where the test may mount one (root on Linux).
func TestFullFileSystem(t *testing.T) {
	builtTTQ(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); the full-disk case needs one", err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	for _, args := range [][]string{
		{"quantize", "--method", "rtn", "-o", filepath.Join(dir, "q")},
		{"export", "--format", "gguf", "-o", filepath.Join(dir, "m.gguf")},
	} {
		code, _, errOut := runBinary(t, nil, args...)
		lines := strings.Split(strings.TrimRight(errOut, "\n"), "\n")
		if code != 1 || len(lines) != 1 || !strings.Contains(errOut, "no space left") {
			t.Errorf("ttq %s on a full disk: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
		}
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			t.Errorf("ttq %s on a full disk left %v", args[0], entries)
			for _, e := range entries {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
}
