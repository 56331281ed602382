package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Ctrl-C in the middle of `ttq quantize --method awq|gptq` leaves only the
// resume state (no checkpoint); --resume then finishes with the same bytes
// as a run never interrupted and removes the state; a saved state is
// refused without --resume, and with --resume when the flags differ.
func TestQuantizeInterruptAndResume(t *testing.T) {
	for _, method := range []string{"gptq", "awq"} {
		t.Run(method, func(t *testing.T) {
			args := func(out string, extra ...string) []string {
				return append([]string{"quantize", "--method", method, "--bits", "3", "--group", "32",
					"--nsamples", "3", "--calib-seqlen", "48", "-o", out}, extra...)
			}
			ref := filepath.Join(t.TempDir(), "ref")
			if code, _, stderr := runTTQ(t, args(ref)...); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			want, err := os.ReadFile(filepath.Join(ref, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(ref, resumeDirName)); !os.IsNotExist(err) {
				t.Fatalf("a finished run left %s (%v)", resumeDirName, err)
			}

			out := filepath.Join(t.TempDir(), "q")
			layerSavedHook = func(l int) {
				if l == 1 {
					_ = syscall.Kill(os.Getpid(), syscall.SIGINT)
				}
			}
			code, _, stderr := runTTQ(t, args(out)...)
			layerSavedHook = nil
			if code != exitInterrupted {
				t.Fatalf("interrupted run: exit %d, want %d: %s", code, exitInterrupted, stderr)
			}
			entries, _ := os.ReadDir(out)
			if len(entries) != 1 || entries[0].Name() != resumeDirName {
				t.Fatalf("interrupted run left %v, want only %s", entries, resumeDirName)
			}
			saved, _ := os.ReadDir(filepath.Join(out, resumeDirName))
			if len(saved) < 3 { // state.json and at least two layers
				t.Fatalf("resume state holds %v", saved)
			}

			code, _, stderr = runTTQ(t, args(out)...)
			if code != 1 || !strings.Contains(stderr, "--resume") {
				t.Fatalf("rerun without --resume: exit %d: %s", code, stderr)
			}
			code, _, stderr = runTTQ(t, args(out, "--resume", "--calib-seed", "9")...)
			if code != 1 || !strings.Contains(stderr, "another model, method, options or calibration") {
				t.Fatalf("--resume with another seed: exit %d: %s", code, stderr)
			}
			if code, _, stderr := runTTQ(t, args(out, "--resume")...); code != 0 {
				t.Fatalf("--resume: exit %d: %s", code, stderr)
			}
			got, err := os.ReadFile(filepath.Join(out, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the resumed checkpoint differs from the uninterrupted one")
			}
			if _, err := os.Stat(filepath.Join(out, resumeDirName)); !os.IsNotExist(err) {
				t.Fatalf("resumed run left %s (%v)", resumeDirName, err)
			}
		})
	}
}
