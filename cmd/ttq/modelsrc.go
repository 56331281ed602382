package main

import (
	"github.com/ttqproject/ttq/pkg/model/hub"
)

// modelFlagUsage describes --model wherever a command takes one.
const modelFlagUsage = "model directory or Hugging Face hub cache org/name[@revision] (default: the built-in demo model)"

// modelArg resolves the model from an optional positional argument or the
// --model flag (not both) to a directory: a Hugging Face hub cache reference
// (org/name[@revision]) becomes its snapshot directory.
func modelArg(args []string, flag string) (string, error) {
	if len(args) > 0 {
		if flag != "" && flag != args[0] {
			return "", usagef("give the model either as an argument or with --model, not both")
		}
		flag = args[0]
	}
	return hub.Resolve(flag)
}
