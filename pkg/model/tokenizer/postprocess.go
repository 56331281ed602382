package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// parsePostProcessor reduces the post-processor to the ids it puts before
// and after a single sequence.
func (t *Tokenizer) parsePostProcessor(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	pre, suf, name, err := t.processorIDs(raw)
	if err != nil {
		return err
	}
	t.prefix, t.suffix, t.procName = pre, suf, name
	return nil
}

func (t *Tokenizer) processorIDs(raw json.RawMessage) (pre, suf []int, name string, err error) {
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil, "", fmt.Errorf("tokenizer: post_processor: %w", err)
	}
	switch c.Type {
	case "ByteLevel":
		return nil, nil, "ByteLevel", nil
	case "Sequence":
		var v struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, "", fmt.Errorf("tokenizer: post_processor Sequence: %w", err)
		}
		var names []string
		for _, r := range v.Processors {
			p, s, n, err := t.processorIDs(r)
			if err != nil {
				return nil, nil, "", err
			}
			// Each processor wraps what the previous ones produced.
			pre = append(p, pre...)
			suf = append(suf, s...)
			names = append(names, n)
		}
		return pre, suf, "Sequence[" + strings.Join(names, ",") + "]", nil
	case "RobertaProcessing", "BertProcessing":
		var v struct {
			Sep [2]json.RawMessage `json:"sep"`
			Cls [2]json.RawMessage `json:"cls"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, "", fmt.Errorf("tokenizer: post_processor %s: %w", c.Type, err)
		}
		var cls, sep int
		if err := json.Unmarshal(v.Cls[1], &cls); err != nil {
			return nil, nil, "", fmt.Errorf("tokenizer: post_processor %s cls: %w", c.Type, err)
		}
		if err := json.Unmarshal(v.Sep[1], &sep); err != nil {
			return nil, nil, "", fmt.Errorf("tokenizer: post_processor %s sep: %w", c.Type, err)
		}
		if err := t.checkID(cls); err != nil {
			return nil, nil, "", err
		}
		if err := t.checkID(sep); err != nil {
			return nil, nil, "", err
		}
		return []int{cls}, []int{sep}, c.Type, nil
	case "TemplateProcessing":
		var v struct {
			Single  json.RawMessage `json:"single"`
			Special map[string]struct {
				IDs []int `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, "", fmt.Errorf("tokenizer: post_processor TemplateProcessing: %w", err)
		}
		items, err := templateItems(v.Single)
		if err != nil {
			return nil, nil, "", err
		}
		seen := false
		for _, it := range items {
			if it.seq {
				if seen {
					return nil, nil, "", fmt.Errorf("tokenizer: TemplateProcessing single template has two sequences")
				}
				seen = true
				continue
			}
			sp, ok := v.Special[it.special]
			if !ok {
				return nil, nil, "", fmt.Errorf("tokenizer: TemplateProcessing uses undefined special token %q", it.special)
			}
			for _, id := range sp.IDs {
				if err := t.checkID(id); err != nil {
					return nil, nil, "", err
				}
			}
			if seen {
				suf = append(suf, sp.IDs...)
			} else {
				pre = append(pre, sp.IDs...)
			}
		}
		if !seen {
			return nil, nil, "", fmt.Errorf("tokenizer: TemplateProcessing single template has no $A")
		}
		return pre, suf, "TemplateProcessing", nil
	}
	return nil, nil, "", fmt.Errorf("tokenizer: unsupported post_processor type %q", c.Type)
}

func (t *Tokenizer) checkID(id int) error {
	if id < 0 || id >= len(t.idToToken) || !t.hasID[id] {
		return fmt.Errorf("tokenizer: post_processor id %d is not in the vocabulary", id)
	}
	return nil
}

type templateItem struct {
	seq     bool
	special string
}

// templateItems reads the serialized list form ([{"SpecialToken": …},
// {"Sequence": …}]) and the string form ("<s> $A").
func templateItems(raw json.RawMessage) ([]templateItem, error) {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		var items []templateItem
		for _, f := range strings.Fields(str) {
			name, _, _ := strings.Cut(f, ":")
			if strings.HasPrefix(name, "$") {
				items = append(items, templateItem{seq: true})
			} else {
				items = append(items, templateItem{special: name})
			}
		}
		return items, nil
	}
	var list []struct {
		SpecialToken *struct {
			ID string `json:"id"`
		} `json:"SpecialToken"`
		Sequence *struct {
			ID string `json:"id"`
		} `json:"Sequence"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("tokenizer: TemplateProcessing single: %w", err)
	}
	items := make([]templateItem, 0, len(list))
	for _, x := range list {
		switch {
		case x.Sequence != nil:
			items = append(items, templateItem{seq: true})
		case x.SpecialToken != nil:
			items = append(items, templateItem{special: x.SpecialToken.ID})
		default:
			return nil, fmt.Errorf("tokenizer: TemplateProcessing item is neither SpecialToken nor Sequence")
		}
	}
	return items, nil
}

// applyConfig resolves BOS/EOS from tokenizer_config.json and the template.
// add_bos_token / add_eos_token, when present, override the template the
// way LlamaTokenizerFast.update_post_processor does.
func (t *Tokenizer) applyConfig(cfgJSON []byte) error {
	var cfg configJSON
	if len(cfgJSON) > 0 {
		if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
			return fmt.Errorf("tokenizer: tokenizer_config.json: %w", err)
		}
	}
	resolve := func(raw json.RawMessage, what string) (string, int, error) {
		s, err := tokenString(raw)
		if err != nil {
			return "", -1, fmt.Errorf("tokenizer: tokenizer_config.json %s: %w", what, err)
		}
		if s == "" {
			return "", -1, nil
		}
		id, ok := t.ID(s)
		if !ok {
			return "", -1, fmt.Errorf("tokenizer: tokenizer_config.json %s %q is not in the vocabulary", what, s)
		}
		return s, id, nil
	}
	var err error
	if t.bosTok, t.bosID, err = resolve(cfg.BOSToken, "bos_token"); err != nil {
		return err
	}
	if t.eosTok, t.eosID, err = resolve(cfg.EOSToken, "eos_token"); err != nil {
		return err
	}
	if t.bosID < 0 && len(t.prefix) > 0 {
		t.bosID = t.prefix[0]
		t.bosTok = t.idToToken[t.bosID]
	}
	if t.eosID < 0 && len(t.suffix) > 0 {
		t.eosID = t.suffix[len(t.suffix)-1]
		t.eosTok = t.idToToken[t.eosID]
	}
	if cfg.AddBOSToken != nil {
		has := len(t.prefix) > 0 && t.prefix[0] == t.bosID
		switch {
		case *cfg.AddBOSToken && !has:
			if t.bosID < 0 {
				return fmt.Errorf("tokenizer: tokenizer_config.json sets add_bos_token but names no bos_token")
			}
			t.prefix = append([]int{t.bosID}, t.prefix...)
		case !*cfg.AddBOSToken && has:
			t.prefix = t.prefix[1:]
		}
	}
	if cfg.AddEOSToken != nil {
		has := len(t.suffix) > 0 && t.suffix[len(t.suffix)-1] == t.eosID
		switch {
		case *cfg.AddEOSToken && !has:
			if t.eosID < 0 {
				return fmt.Errorf("tokenizer: tokenizer_config.json sets add_eos_token but names no eos_token")
			}
			t.suffix = append(t.suffix, t.eosID)
		case !*cfg.AddEOSToken && has:
			t.suffix = t.suffix[:len(t.suffix)-1]
		}
	}
	return nil
}
