package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// testTaskResults: an array's tasks come in index order, each its newest attempt with the
// result it reported (a retried task shows its retry), a page at a time; the group's
// children are counted by state, every attempt counted.
func testTaskResults(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	sp := spec("res")
	put(t, s, sp, t0)
	parent := q.run(sp.Name, job.StateQueued)
	children, events := group.Expand(&parent, sp, 0, []string{"a.csv", "b.csv", "c.csv"})
	events = append([]job.Event{firstEvent(parent)}, events...)
	if _, _, err := s.RunCreateGroup(ctx, parent, children, events); err != nil {
		t.Fatal(err)
	}
	claimed := claimKeys(t, s, 10)
	if len(claimed) != 3 {
		t.Fatalf("claimed %v; want the 3 tasks", keys(claimed))
	}
	if _, err := s.ReportPut(ctx, job.Report{RunID: claimed[1].ID, Result: json.RawMessage(`{"rows":7}`), UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	end(t, s, claimed[1], job.StateSucceeded, nil)
	retry := claimed[0].NextAttempt(t0, t0)
	end(t, s, claimed[0], job.StateFailed, &retry)

	show := func(trs []store.TaskResult) []string {
		out := []string{}
		for _, tr := range trs {
			out = append(out, fmt.Sprintf("%s %s attempt %d %s %s", tr.Run.Key(), tr.Run.Input, tr.Run.Attempt, tr.Run.State, tr.Result))
		}
		return out
	}
	all, err := s.TaskResults(ctx, parent.ID, -1, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0 a.csv attempt 2 queued ", `1 b.csv attempt 1 succeeded {"rows":7}`, "2 c.csv attempt 1 dispatched "}
	if diff := cmp.Diff(want, show(all)); diff != "" {
		t.Errorf("all tasks (-want +got):\n%s", diff)
	}
	page, err := s.TaskResults(ctx, parent.ID, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:2], show(page)); diff != "" {
		t.Errorf("the page after task 0 (-want +got):\n%s", diff)
	}
	counts, err := s.GroupStates(ctx, parent.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := map[job.State]int{job.StateFailed: 1, job.StateQueued: 1, job.StateSucceeded: 1, job.StateDispatched: 1}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("children by state (-want +got):\n%s", diff)
	}
	if none, err := s.TaskResults(ctx, "no-such-run", -1, 10); err != nil || len(none) != 0 {
		t.Errorf("results of no run: %v, %v; want none", none, err)
	}
}

// testGroupExclusiveLater: the tasks of an exclusive job's array are claimed after the
// array has started (its parallelism let only one go first): the array run itself, which
// runs nothing, does not hold its own tasks back.
func testGroupExclusiveLater(t *testing.T, s store.Store) {
	var q seq
	sp := spec("solo-arr")
	sp.Concurrency, sp.Parallelism = job.ConcurrencyForbid, 1
	createGroup(t, s, &q, sp, 2)
	for i := range 2 {
		got := claimKeys(t, s, 10)
		if diff := cmp.Diff([]string{fmt.Sprint(i)}, keys(got)); diff != "" {
			t.Fatalf("claim %d (-want +got):\n%s", i, diff)
		}
		end(t, s, got[0], job.StateSucceeded, nil)
	}
}
