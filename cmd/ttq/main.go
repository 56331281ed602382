// Command ttq quantizes Llama-family language models and measures what the
// quantization costs in quality and buys in speed.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], systemStreams()))
}
