package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// testDefinitionPage pages through jobs by name, with and without a name filter; deleted
// jobs are never listed, and names compare bytewise ("a-b" before "ab").
func testDefinitionPage(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, name := range []string{"ab", "a-b", "etl-load", "etl-2", "ml-train", "etl-gone", "z9"} {
		put(t, s, spec(name), t0)
	}
	if err := s.DefinitionDelete(ctx, "etl-gone", t0); err != nil {
		t.Fatal(err)
	}
	pages := func(f store.DefinitionFilter) [][]string {
		t.Helper()
		var out [][]string
		for range 10 {
			defs, next, err := s.DefinitionPage(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range defs {
				if d.Revision != 1 || d.Image != "python:3.12" {
					t.Errorf("job %s read back as %+v", d.Name, d)
				}
				names = append(names, d.Name)
			}
			out = append(out, names)
			if next == "" {
				return out
			}
			f.Cursor = next
		}
		t.Fatal("more than 10 pages")
		return nil
	}
	for _, tt := range []struct {
		name string
		f    store.DefinitionFilter
		want [][]string
	}{
		{"all", store.DefinitionFilter{}, [][]string{{"a-b", "ab", "etl-2", "etl-load", "ml-train", "z9"}}},
		{"by two", store.DefinitionFilter{Limit: 2}, [][]string{{"a-b", "ab"}, {"etl-2", "etl-load"}, {"ml-train", "z9"}}},
		{"by four", store.DefinitionFilter{Limit: 4}, [][]string{{"a-b", "ab", "etl-2", "etl-load"}, {"ml-train", "z9"}}},
		{"a name part", store.DefinitionFilter{Name: "etl", Limit: 1}, [][]string{{"etl-2"}, {"etl-load"}}},
		{"a name part in capitals", store.DefinitionFilter{Name: "TRAIN"}, [][]string{{"ml-train"}}},
		{"a name part in the middle", store.DefinitionFilter{Name: "-"}, [][]string{{"a-b", "etl-2", "etl-load", "ml-train"}}},
		{"a name that is none", store.DefinitionFilter{Name: "nothing", Limit: 2}, [][]string{nil}},
		{"from a cursor", store.DefinitionFilter{Cursor: "etl-load", Limit: 5}, [][]string{{"ml-train", "z9"}}},
		{"SQL in the filter", store.DefinitionFilter{Name: "%' OR '1'='1"}, [][]string{nil}},
	} {
		if diff := cmp.Diff(tt.want, pages(tt.f)); diff != "" {
			t.Errorf("%s: pages (-want +got):\n%s", tt.name, diff)
		}
	}
}

// testRunRecent reads the newest runs of some jobs, newest first.
func testRunRecent(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	for _, name := range []string{"recent-a", "recent-b", "recent-never", "recent-other"} {
		put(t, s, spec(name), t0)
	}
	var a, b []string
	for i := range 5 {
		a = append(a, create(t, s, q.run("recent-a", job.StateSucceeded)).ID)
		if i < 2 {
			b = append(b, create(t, s, q.run("recent-b", job.StateFailed)).ID)
		}
		create(t, s, q.run("recent-other", job.StateQueued))
	}
	ids := func(recent map[string][]job.Run) map[string][]string {
		out := map[string][]string{}
		for name, runs := range recent {
			for _, r := range runs {
				if r.Job != name {
					t.Errorf("recent[%s] holds a run of %s", name, r.Job)
				}
				out[name] = append(out[name], r.ID)
			}
		}
		return out
	}
	for _, tt := range []struct {
		jobs []string
		n    int
		want map[string][]string
	}{
		{[]string{"recent-a", "recent-b", "recent-never", "absent"}, 3, map[string][]string{"recent-a": {a[4], a[3], a[2]}, "recent-b": {b[1], b[0]}}},
		{[]string{"recent-a"}, 1, map[string][]string{"recent-a": {a[4]}}},
		{[]string{"recent-b", "recent-a"}, 10, map[string][]string{"recent-a": {a[4], a[3], a[2], a[1], a[0]}, "recent-b": {b[1], b[0]}}},
		{nil, 3, map[string][]string{}},
		// More jobs than one statement reads where each job is a part of its own.
		{append(manyNames("recent-absent-", 150), "recent-b"), 1, map[string][]string{"recent-b": {b[1]}}},
	} {
		recent, err := s.RunRecent(ctx, tt.jobs, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, ids(recent)); diff != "" {
			t.Errorf("RunRecent(%v, %d) (-want +got):\n%s", tt.jobs, tt.n, diff)
		}
	}
	recent, err := s.RunRecent(ctx, []string{"recent-b"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := recent["recent-b"][0]; got.State != job.StateFailed || got.Attempt != 1 || got.CreatedAt.IsZero() {
		t.Errorf("a recent run read back as %+v", got)
	}
}

// manyNames returns n job names that start with prefix.
func manyNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return names
}
