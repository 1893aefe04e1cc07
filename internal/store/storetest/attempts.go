package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// testRunAttempts: a run's overrides are kept and go to its retry; RunAttempts follows
// the retry chain from the first attempt; RunTask finds an array's task by index; RunList
// selects a group's children.
func testRunAttempts(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	sp := spec("attempts")
	put(t, s, sp, t0)
	three := 3
	first := q.run(sp.Name, job.StateQueued)
	first.Overrides = &job.Overrides{Name: "nightly", Command: []string{"echo", "hi"}, CPU: "2", Memory: "512Mi", Deadline: job.Duration(time.Minute), Retries: &three}
	if _, _, err := s.RunCreate(ctx, first, firstEvent(first)); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, first.ID)
	if diff := cmp.Diff(first.Overrides, got.Overrides); diff != "" {
		t.Fatalf("overrides as stored (-want +got):\n%s", diff)
	}
	claimIDs(t, s, "a", t0.Add(time.Hour), 10)
	second := first.NextAttempt(t0.Add(time.Minute), t0.Add(time.Minute))
	end(t, s, first, job.StateFailed, &second)
	attempts, err := s.RunAttempts(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range attempts {
		ids = append(ids, a.ID)
	}
	if diff := cmp.Diff([]string{first.ID, second.ID}, ids); diff != "" {
		t.Errorf("RunAttempts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(first.Overrides, attempts[1].Overrides); diff != "" {
		t.Errorf("the retry's overrides (-want +got):\n%s", diff)
	}
	if _, err := s.RunAttempts(ctx, "nope"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("RunAttempts of no run: %v; want ErrNotFound", err)
	}

	parent, children := createGroup(t, s, &q, spec("attempts-array"), 3)
	task, err := s.RunTask(ctx, parent.ID, 2)
	if err != nil || task.ID != children[2].ID {
		t.Errorf("RunTask(2) = %s, %v; want %s", task.ID, err, children[2].ID)
	}
	if _, err := s.RunTask(ctx, parent.ID, 3); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("RunTask(3) of 3 tasks: %v; want ErrNotFound", err)
	}
	runs, _, err := s.RunList(ctx, store.RunFilter{Parent: parent.ID})
	if err != nil || len(runs) != 3 {
		t.Errorf("RunList of the children: %d runs, %v; want 3", len(runs), err)
	}
}
