package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpeModel is the BPE model of huggingface/tokenizers (models/bpe): merges
// applied lowest rank first, equal ranks leftmost first, over a linked list
// of symbols with a min-heap whose stale entries are skipped on pop.
type bpeModel struct {
	vocab        map[string]int
	merges       map[uint64]uint64 // pair (a<<32|b) → rank<<32 | merged id
	mergeList    [][2]string       // as listed in the file, rank order
	nMerges      int
	unkID        int // -1 when the model has no unk_token
	unkToken     string
	byteFallback bool
	fuseUnk      bool
	ignoreMerges bool
	byteIDs      [256]int32 // id of "<0xHH>", -1 when absent

	mu    sync.RWMutex
	cache map[string][]int
}

const (
	bpeCacheMax     = 1 << 16
	bpeCacheWordMax = 128
)

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func newBPEModel(vocab map[string]int, merges [][2]string, unk string, byteFallback, fuseUnk, ignoreMerges bool) (*bpeModel, error) {
	m := &bpeModel{
		vocab:        vocab,
		merges:       make(map[uint64]uint64, len(merges)),
		mergeList:    merges,
		nMerges:      len(merges),
		unkID:        -1,
		unkToken:     unk,
		byteFallback: byteFallback,
		fuseUnk:      fuseUnk,
		ignoreMerges: ignoreMerges,
		cache:        map[string][]int{},
	}
	if unk != "" {
		id, ok := vocab[unk]
		if !ok {
			return nil, fmt.Errorf("tokenizer: unk_token %q is not in the vocabulary", unk)
		}
		m.unkID = id
	}
	for b := 0; b < 256; b++ {
		m.byteIDs[b] = -1
		if id, ok := vocab[byteToken(byte(b))]; ok {
			m.byteIDs[b] = int32(id)
		}
	}
	for rank, mg := range merges {
		a, ok1 := vocab[mg[0]]
		b, ok2 := vocab[mg[1]]
		c, ok3 := vocab[mg[0]+mg[1]]
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("tokenizer: merge %d (%q %q) uses a token missing from the vocabulary", rank, mg[0], mg[1])
		}
		// A repeated pair keeps its last rank, as the Rust HashMap collect does.
		m.merges[pairKey(a, b)] = uint64(rank)<<32 | uint64(uint32(c))
	}
	return m, nil
}

// byteToken is the byte-fallback token spelling, "<0x0A>".
func byteToken(b byte) string {
	const hex = "0123456789ABCDEF"
	return string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})
}

type symbol struct {
	id         int32
	prev, next int32
	size       int32 // bytes covered; 0 marks a symbol merged away
}

type mergeItem struct {
	rank  uint32
	pos   uint32
	newID uint32
}

func (a mergeItem) less(b mergeItem) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// mergeHeap is a binary min-heap ordered by (rank, position).
type mergeHeap []mergeItem

func (h *mergeHeap) push(x mergeItem) {
	*h = append(*h, x)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeItem {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].less(s[l]) {
			m = r
		}
		if !s[m].less(s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// tokenize appends the ids of one pre-token to out.
func (m *bpeModel) tokenize(word string, out []int) []int {
	if word == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(out, id)
		}
	}
	cacheable := len(word) <= bpeCacheWordMax
	if cacheable {
		m.mu.RLock()
		ids, ok := m.cache[word]
		m.mu.RUnlock()
		if ok {
			return append(out, ids...)
		}
	}
	start := len(out)
	out = m.mergeWord(word, out)
	if cacheable {
		ids := append([]int(nil), out[start:]...)
		m.mu.Lock()
		if len(m.cache) >= bpeCacheMax {
			clear(m.cache)
		}
		m.cache[word] = ids
		m.mu.Unlock()
	}
	return out
}

func (m *bpeModel) mergeWord(word string, out []int) []int {
	syms := make([]symbol, 0, utf8.RuneCountInString(word))
	add := func(id, size int) {
		n := int32(len(syms))
		syms = append(syms, symbol{id: int32(id), prev: n - 1, next: n + 1, size: int32(size)})
	}
	unkPending, unkSize := false, 0
	for i := 0; i < len(word); {
		_, sz := utf8.DecodeRuneInString(word[i:])
		ch := word[i : i+sz]
		i += sz
		if id, ok := m.vocab[ch]; ok {
			if unkPending {
				add(m.unkID, unkSize)
				unkPending = false
			}
			add(id, sz)
			continue
		}
		if m.byteFallback {
			all := true
			for k := 0; k < len(ch); k++ {
				if m.byteIDs[ch[k]] < 0 {
					all = false
					break
				}
			}
			if all {
				// huggingface/tokenizers emits the bytes without first
				// flushing a pending unk; keep that order.
				for k := 0; k < len(ch); k++ {
					add(int(m.byteIDs[ch[k]]), 1)
				}
				continue
			}
		}
		if m.unkID < 0 {
			continue // no unk token: the character is dropped
		}
		switch {
		case unkPending && m.fuseUnk:
			unkSize += sz
		case unkPending:
			add(m.unkID, unkSize)
			unkSize = sz
		default:
			unkPending, unkSize = true, sz
		}
	}
	if unkPending {
		add(m.unkID, unkSize)
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1

	h := make(mergeHeap, 0, len(syms))
	for i := 0; i+1 < len(syms); i++ {
		if v, ok := m.merges[pairKey(int(syms[i].id), int(syms[i+1].id))]; ok {
			h.push(mergeItem{rank: uint32(v >> 32), pos: uint32(i), newID: uint32(v)})
		}
	}
	for len(h) > 0 {
		top := h.pop()
		cur := &syms[top.pos]
		if cur.size == 0 || cur.next < 0 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		// Stale entries are recognised by the merged id only, exactly as
		// word.rs does.
		v, ok := m.merges[pairKey(int(cur.id), int(right.id))]
		if !ok || uint32(v) != top.newID {
			continue
		}
		cur.id = int32(top.newID)
		cur.size += right.size
		cur.next = right.next
		syms[nextPos].size = 0
		if right.next >= 0 {
			syms[right.next].prev = int32(top.pos)
		}
		if cur.prev >= 0 {
			p := syms[cur.prev]
			if v, ok := m.merges[pairKey(int(p.id), int(cur.id))]; ok {
				h.push(mergeItem{rank: uint32(v >> 32), pos: uint32(cur.prev), newID: uint32(v)})
			}
		}
		if cur.next >= 0 {
			n := syms[cur.next]
			if v, ok := m.merges[pairKey(int(cur.id), int(n.id))]; ok {
				h.push(mergeItem{rank: uint32(v >> 32), pos: top.pos, newID: uint32(v)})
			}
		}
	}
	for i := range syms {
		if syms[i].size != 0 {
			out = append(out, int(syms[i].id))
		}
	}
	return out
}

// parseMerges decodes the merges list, trying the two uniform spellings
// first (one pass of encoding/json) before the element-by-element path.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var lists [][]string
	if json.Unmarshal(raw, &lists) == nil {
		out := make([][2]string, len(lists))
		for i, l := range lists {
			if len(l) != 2 {
				return nil, fmt.Errorf("tokenizer: merge %d is neither \"a b\" nor [\"a\", \"b\"]", i)
			}
			out[i] = [2]string{l[0], l[1]}
		}
		return out, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, fmt.Errorf("tokenizer: merges: %w", err)
	}
	out := make([][2]string, len(elems))
	for i, e := range elems {
		mg, err := parseMerge(e, i)
		if err != nil {
			return nil, err
		}
		out[i] = mg
	}
	return out, nil
}

// parseMerge accepts both merge spellings: "a b" strings (split at the
// first space, like splitn(2, ' ')) and ["a", "b"] pairs.
func parseMerge(raw []byte, i int) ([2]string, error) {
	var zero [2]string
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := jsonUnmarshal(raw, &s); err != nil {
			return zero, fmt.Errorf("tokenizer: merge %d: %w", i, err)
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok {
			return zero, fmt.Errorf("tokenizer: merge %d %q is not two space-separated tokens", i, s)
		}
		return [2]string{a, b}, nil
	}
	var p []string
	if err := jsonUnmarshal(raw, &p); err != nil || len(p) != 2 {
		return zero, fmt.Errorf("tokenizer: merge %d is neither \"a b\" nor [\"a\", \"b\"]", i)
	}
	return [2]string{p[0], p[1]}, nil
}
