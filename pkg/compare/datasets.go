package compare

import (
	"fmt"
	"strings"

	"github.com/ttqproject/ttq/pkg/eval"
	"github.com/ttqproject/ttq/pkg/model"
	"github.com/ttqproject/ttq/pkg/quant"
)

// buildDatasets tokenizes the evaluations once for all rows.
func buildDatasets(o *Options, lm *quant.LoadedModel) ([]Dataset, error) {
	policy := eval.BOSPolicy(o.BOS)
	p := eval.Protocol(o.Protocol)
	var out []Dataset
	ppl := func(name, source string, text eval.Text, domain bool) error {
		ctxLen := o.Ctx
		if ctxLen == 0 {
			ctxLen, _ = eval.DefaultCtx(p, lm.Model.Config.MaxPositions)
		} else if m := lm.Model.Config.MaxPositions; m > 0 && ctxLen > m {
			return model.OptionErrorf("--ctx %d exceeds the model's maximum of %d positions", ctxLen, m)
		}
		toks, bos, err := eval.TokenizeText(lm.Tokenizer, text.Text, p, policy)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		w, err := eval.MakeWindows(toks, p, ctxLen, o.MaxWindows, bos)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, Dataset{Windows: w, Info: DatasetInfo{
			Name: name, Kind: KindPerplexity, Source: source, SHA256: text.SHA256(), Protocol: string(p),
			Ctx: ctxLen, Windows: w.N, WindowsAvailable: w.Available, ScoredTokens: w.N * w.ScoredPerWindow(),
			BOS: o.BOS, Domain: domain}})
		return nil
	}
	mc := func(name, source string, items []eval.MCItem) error {
		avail := len(items)
		if o.MaxItems > 0 && o.MaxItems < len(items) {
			items = items[:o.MaxItems]
		}
		reqs, err := eval.EncodeMC(lm.Tokenizer, items, policy)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, Dataset{Reqs: reqs, Info: DatasetInfo{
			Name: name, Kind: KindMultipleChoice, Source: source, SHA256: eval.ItemsSHA256(items),
			Items: len(items), ItemsAvailable: avail, BOS: o.BOS}})
		return nil
	}
	domainText := func(d string) (eval.Text, string, error) {
		if IsDomain(d) {
			s, err := DomainText(d, "eval")
			return eval.Text{Name: "builtin:" + d + "/eval", Text: s}, "builtin:" + d + "/eval", err
		}
		t, err := eval.ReadTextFile(d, p)
		return t, d, err
	}
	names := map[string]bool{}
	add := func(name string, domain bool) error {
		if names[name] {
			return nil
		}
		names[name] = true
		switch {
		case name == "wikitext":
			t, err := eval.WikiText("test", p)
			if err != nil {
				return err
			}
			return ppl(name, t.Name, t, domain)
		case name == "piqa":
			items, err := eval.PIQA()
			if err != nil {
				return err
			}
			return mc(name, "piqa/valid", items)
		case strings.HasPrefix(name, "mc:"):
			items, err := eval.ReadMCFile(strings.TrimPrefix(name, "mc:"))
			if err != nil {
				return err
			}
			return mc(name, strings.TrimPrefix(name, "mc:"), items)
		}
		t, src, err := domainText(name)
		if err != nil {
			return err
		}
		return ppl(name, src, t, domain)
	}
	for _, d := range o.Datasets {
		if err := add(d, false); err != nil {
			return nil, err
		}
	}
	for _, d := range o.EvalDomains {
		if names[d] {
			// Listed in both: it is a domain column too.
			for i := range out {
				if out[i].Info.Name == d {
					out[i].Info.Domain = true
				}
			}
			continue
		}
		if err := add(d, true); err != nil {
			return nil, err
		}
	}
	return out, nil
}
