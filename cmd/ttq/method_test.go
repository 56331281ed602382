package main

import (
	"testing"

	"github.com/spf13/pflag"

	"github.com/ttqproject/ttq/pkg/quant"
)

func parseMethodFlags(t *testing.T, args ...string) methodOptions {
	t.Helper()
	var o methodOptions
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addMethodFlags(fs, &o, "method")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestMethodFlagsDefaults(t *testing.T) {
	o := parseMethodFlags(t, "--method", "ttq")
	_, q, err := o.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if q.Format.String() != "int4-g32-minmax-f16" || q.TTQ.Alpha != 0.5 || q.TTQ.Lambda != 0.1 || q.TTQ.Stat != quant.StatSumSq || q.TTQ.Window != 0 {
		t.Errorf("ttq defaults: %v %+v", q.Format, q.TTQ)
	}
	o = parseMethodFlags(t, "--method", "gptq", "--bits", "3", "--ttq-window", "prefix:128")
	_, q, err = o.Resolve()
	if err != nil || q.Format.String() != "int3-g128-minmax0-f16" || q.GPTQ.Damp != 0.01 || q.GPTQ.BlockSize != 128 {
		t.Errorf("gptq: %v %+v %v", q.Format, q.GPTQ, err)
	}
}

// eval and generate register the method flags beside their own; building
// them must not panic on a duplicate name, and every method flag must be
// there.
func TestMethodFlagsCoexist(t *testing.T) {
	var want methodOptions
	ref := pflag.NewFlagSet("ref", pflag.ContinueOnError)
	addMethodFlags(ref, &want, "method")
	for _, c := range []func(*streams) interface{ Flags() *pflag.FlagSet }{
		func(io *streams) interface{ Flags() *pflag.FlagSet } { return newGenerateCmd(io) },
		func(io *streams) interface{ Flags() *pflag.FlagSet } { return newEvalCmd(io) },
	} {
		fs := c(&streams{}).Flags()
		ref.VisitAll(func(f *pflag.Flag) {
			if fs.Lookup(f.Name) == nil {
				t.Errorf("%s lacks method flag --%s", fs.Name(), f.Name)
			}
		})
	}
}
