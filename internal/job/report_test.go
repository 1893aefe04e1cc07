package job

import (
	"errors"
	"fmt"
	"testing"
)

func TestReportMergeLimit(t *testing.T) {
	t.Parallel()
	var r Report
	for round := range 3 {
		later := Report{Metrics: map[string]float64{}}
		for i := range 40 {
			later.Metrics[fmt.Sprintf("r%d_%d", round, i)] = 1
		}
		merged, err := r.Merge(later)
		var fe *FieldError
		switch {
		case round < 2 && err != nil:
			t.Fatalf("round %d: %v", round, err)
		case round == 2 && (!errors.As(err, &fe) || fe.Field != "metrics" || len(merged.Metrics) != 80):
			t.Fatalf("round 2 would make 120 metrics: %v, %d kept; want a field error and the 80 before", err, len(merged.Metrics))
		}
		r = merged
	}
	again, err := r.Merge(Report{Metrics: map[string]float64{"r0_0": 2}})
	if err != nil || again.Metrics["r0_0"] != 2 {
		t.Errorf("a name reported before: %v, %v", again.Metrics["r0_0"], err)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{{"short", 10, "short"}, {"abcdef", 3, "abc…"}, {"aéb", 2, "a…"}, {"éé", 3, "é…"}} {
		if got := Truncate(tc.s, tc.n); got != tc.want {
			t.Errorf("Truncate(%q, %d) = %q; want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestElide(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{{"short", 10, "short"}, {"abcdefgh", 4, "ab…gh"}, {"abcdefghi", 5, "ab…ghi"}, {"aéé", 3, "a…é"}} {
		if got := Elide(tc.s, tc.n); got != tc.want || len(got) > tc.n+len("…") {
			t.Errorf("Elide(%q, %d) = %q; want %q", tc.s, tc.n, got, tc.want)
		}
	}
}
