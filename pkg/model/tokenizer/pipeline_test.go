package tokenizer

import "testing"

// Pipeline flattens nested Sequences in order and keeps each step's
// settings, so that an exporter can judge the tokenizer without reading
// tokenizer.json again.
func TestPipelineFlattensSequences(t *testing.T) {
	tj := []byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1},"merges":[]},
		"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
		"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\d"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","use_regex":false,"add_prefix_space":false}]},
		"decoder":{"type":"ByteLevel"}}`)
	tok, err := FromJSON(tj, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tok.Pipeline()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Normalizers) != 2 || p.Normalizers[0].Type != "Prepend" || p.Normalizers[0].Prepend != "▁" ||
		p.Normalizers[1].Pattern.String == nil || *p.Normalizers[1].Pattern.String != " " {
		t.Errorf("normalizers %+v", p.Normalizers)
	}
	pre := p.PreTokenizers
	if len(pre) != 2 || pre[0].Type != "Split" || pre[0].Pattern.Regex == nil || *pre[0].Pattern.Regex != `\d` || pre[0].Behavior != "Isolated" ||
		pre[1].Type != "ByteLevel" || pre[1].UseRegex == nil || *pre[1].UseRegex || pre[1].AddPrefixSpace == nil || *pre[1].AddPrefixSpace {
		t.Errorf("pre-tokenizers %+v", pre)
	}
	if len(p.Decoders) != 1 || p.Decoders[0].Type != "ByteLevel" {
		t.Errorf("decoders %+v", p.Decoders)
	}
}
