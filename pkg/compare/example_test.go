package compare_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ttqproject/ttq/pkg/compare"
)

// Compare full precision with round-to-nearest and TTQ at 4 bits on the
// built-in demo model, as `ttq compare --methods fp,rtn,ttq --bits 4` does,
// on one WikiText-2 window and 20 PIQA items. (Perplexity is printed to
// the unit: TTQ's per-prompt rounding moves it by a few hundredths between
// the assembly and the pure-Go kernels.)
func ExampleRun() {
	o := compare.DefaultOptions()
	o.Methods, o.Bits = []string{"fp", "rtn", "ttq"}, []int{4}
	o.MaxWindows, o.MaxItems = 1, 20
	o.NoCache = true
	rep, err := compare.Run(context.Background(), o)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range rep.Rows {
		fmt.Printf("%-16s %.2f bits/weight, wikitext ppl %.0f\n", r.ID, r.BitsPerWeight, r.Result("wikitext").PPL)
	}
	// Output:
	// fp               32.00 bits/weight, wikitext ppl 113
	// rtn-w4-g128      4.34 bits/weight, wikitext ppl 118
	// ttq-w4-g128      4.34 bits/weight, wikitext ppl 125
}
