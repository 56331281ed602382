package main

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"github.com/ttqproject/ttq/pkg/kernels"
	"golang.org/x/sys/cpu"
)

// Set with -ldflags "-X main.version=... -X main.commit=... -X main.buildDate=...";
// the build environment disables VCS stamping, so the Makefile passes them.
var (
	version   = "dev"
	commit    = "unknown"
	buildDate = "unknown"
)

type versionInfo struct {
	Schema      string          `json:"schema"`
	Version     string          `json:"version"`
	Commit      string          `json:"commit"`
	BuildDate   string          `json:"build_date"`
	GoVersion   string          `json:"go_version"`
	OS          string          `json:"os"`
	Arch        string          `json:"arch"`
	CPUFeatures map[string]bool `json:"cpu_features"`
	Kernels     string          `json:"kernels"`
}

func versionString() string {
	return fmt.Sprintf("%s (commit %s, built %s)", version, commit, buildDate)
}

func currentVersion() versionInfo {
	return versionInfo{
		Schema:    "ttq.version/v1",
		Version:   version,
		Commit:    commit,
		BuildDate: buildDate,
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
		Kernels:   kernels.Accelerated(),
		CPUFeatures: map[string]bool{
			"avx2":    cpu.X86.HasAVX2,
			"fma":     cpu.X86.HasFMA,
			"avx512f": cpu.X86.HasAVX512F,
			"f16c":    cpu.X86.HasF16C,
		},
	}
}

func newVersionCmd(io *streams) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, build and CPU features",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := currentVersion()
			if asJSON {
				return writeJSON(io.Out, v)
			}
			fmt.Fprintf(io.Out, "ttq %s\ncommit:     %s\nbuilt:      %s\ngo:         %s %s/%s\ncpu:        avx2=%t fma=%t f16c=%t avx512f=%t\nkernels:    %s\n",
				v.Version, v.Commit, v.BuildDate, v.GoVersion, v.OS, v.Arch,
				v.CPUFeatures["avx2"], v.CPUFeatures["fma"], v.CPUFeatures["f16c"], v.CPUFeatures["avx512f"], v.Kernels)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON document")
	return cmd
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
