package eval

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ttqproject/ttq/internal/sysmem"
)

// sizedScorer is a uniform scorer whose states claim bytesPer bytes each,
// recording the capacity and batch it was asked about.
type sizedScorer struct {
	*fakeScorer
	bytesPer        int64
	capacity, batch int
}

func (s *sizedScorer) StateBytes(capacity, batch int) int64 {
	s.capacity, s.batch = capacity, batch
	return s.bytesPer
}

// Evaluations whose parallel states cannot fit are refused before any
// state is made, naming the flags that shrink them; ones that fit run.
func TestEvaluationMemoryGuard(t *testing.T) {
	avail, ok := sysmem.Available()
	if !ok {
		t.Skip("available memory is unknown on this system")
	}
	toks := make([]int, 64)
	for i := range toks {
		toks[i] = i % 8
	}
	w, err := MakeWindows(toks, ProtocolGPTQ, 16, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []MCRequest{
		{Context: []int{1, 2, 3}, Continuations: [][]int{{2}, {3, 4}}, ChoiceChars: []int{1, 2}, Label: 0},
		{Context: []int{1}, Continuations: [][]int{{2}, {3}}, ChoiceChars: []int{1, 1}, Label: 1},
	}
	for _, tc := range []struct {
		name      string
		per       int64
		workers   int
		wantError string // "" when the run must go ahead
	}{
		{"fits", 1 << 20, 4, ""},
		// The guard reads the available memory again, and on a shared
		// machine it moves between the two reads: the sizes leave a
		// factor of two either way.
		{"one worker too big", 2 * avail, 1, "lower --ctx"},
		{"workers too many", avail, 4, "lower --parallel or --ctx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sizedScorer{fakeScorer: uniformScorer(8), bytesPer: tc.per}
			// Workers run forwards concurrently, so the count is atomic.
			var made atomic.Int64
			s.fakeScorer.next = func([]int) []float32 { made.Add(1); return make([]float32, 8) }
			_, _, err := PerplexityScores(context.Background(), s, w, nil, Options{Workers: tc.workers})
			if tc.wantError == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("perplexity: got %v, want %q", err, tc.wantError)
			} else if n := made.Load(); n != 0 {
				t.Fatalf("perplexity: %d forwards ran before the refusal", n)
			}
			if s.capacity != w.Ctx || s.batch != w.Ctx {
				t.Fatalf("sized for (%d, %d), want (%d, %d)", s.capacity, s.batch, w.Ctx, w.Ctx)
			}

			want := strings.Replace(tc.wantError, "--ctx", "the longest item", 1)
			_, _, err = MultipleChoiceScores(context.Background(), s, reqs, Options{Workers: tc.workers})
			if tc.wantError == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("multiple choice: got %v, want %q", err, want)
			}
			// The longest request: 3 context tokens + the 2-token choice,
			// whose last token is scored, never fed.
			if s.capacity != 4 || s.batch != 4 {
				t.Fatalf("multiple choice sized for (%d, %d), want (4, 4)", s.capacity, s.batch)
			}
		})
	}
}

// The whole text's time is this run's seconds per window times the windows
// the text has.
func TestFullTextSeconds(t *testing.T) {
	r := &PerplexityResult{Windows: 4, WindowsAvailable: 1591, Seconds: 2}
	if got := r.FullTextSeconds(); got != 795.5 {
		t.Fatalf("FullTextSeconds = %g, want 795.5", got)
	}
	if got := (&PerplexityResult{WindowsAvailable: 10}).FullTextSeconds(); got != 0 {
		t.Fatalf("no window done: %g, want 0", got)
	}
}
