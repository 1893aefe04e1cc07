package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// waiter is a new run of jobName waiting for the runs needed.
func (q *seq) waiter(jobName string, needed ...string) job.Run {
	r := q.run(jobName, job.StateWaiting)
	r.WaitsFor, r.Reason, r.Message = needed, job.ReasonWaiting, "waiting"
	return r
}

func createRun(t *testing.T, s store.Store, r job.Run) job.Run {
	t.Helper()
	stored, created, err := s.RunCreate(context.Background(), r, firstEvent(r))
	if err != nil || !created {
		t.Fatalf("RunCreate %s: created %v, err %v", r.ID, created, err)
	}
	return stored
}

func statesOf(t *testing.T, s store.Store, runs ...job.Run) []job.State {
	t.Helper()
	var out []job.State
	for _, r := range runs {
		out = append(out, mustGet(t, s, r.ID).State)
	}
	return out
}

// testRunWaits: runs waiting for other runs (dependencies between submissions) are
// queued in the transaction that ends the last of those successfully, skipped (and their
// own waiters after them) when one ends otherwise, not before a retry has had its say;
// one created after its needs ended is settled as it is created; a waiting run cancelled
// skips its waiters; array tasks wait task by task (N_TO_N) and count in their group.
func testRunWaits(t *testing.T, s store.Store) {
	ctx := context.Background()
	var q seq
	sp := spec("waits")
	put(t, s, sp, t0)

	a := createRun(t, s, q.run(sp.Name, job.StateQueued))
	b := createRun(t, s, q.waiter(sp.Name, a.ID))
	d := createRun(t, s, q.run(sp.Name, job.StateQueued))
	c := createRun(t, s, q.waiter(sp.Name, d.ID, a.ID))
	e := createRun(t, s, q.waiter(sp.Name, c.ID))
	if diff := cmp.Diff([]job.State{job.StateWaiting, job.StateWaiting, job.StateWaiting}, statesOf(t, s, b, c, e)); diff != "" {
		t.Fatalf("waiters as created (-want +got):\n%s", diff)
	}
	claimIDs(t, s, "x", t0.Add(1e12), 10)
	end(t, s, a, job.StateSucceeded, nil)
	if diff := cmp.Diff([]job.State{job.StateQueued, job.StateWaiting, job.StateWaiting}, statesOf(t, s, b, c, e)); diff != "" {
		t.Errorf("after a succeeded (-want +got):\n%s", diff)
	}
	if got := mustGet(t, s, b.ID); got.Reason != job.ReasonReady {
		t.Errorf("b released with %s %q", got.Reason, got.Message)
	}
	// d fails with a retry to come: c waits on; the retry fails for good: c and e are
	// skipped, saying why.
	retry := d.NextAttempt(t0, t0)
	end(t, s, d, job.StateFailed, &retry)
	if got := mustGet(t, s, c.ID).State; got != job.StateWaiting {
		t.Errorf("c after d failed with a retry to come: %s", got)
	}
	claimIDs(t, s, "x", t0.Add(1e12), 10)
	end(t, s, retry, job.StateFailed, nil)
	if diff := cmp.Diff([]job.State{job.StateSkipped, job.StateSkipped}, statesOf(t, s, c, e)); diff != "" {
		t.Errorf("after d's retry failed (-want +got):\n%s", diff)
	}
	if got := mustGet(t, s, e.ID); got.Reason != job.ReasonUpstreamFailed || got.FinishedAt == nil {
		t.Errorf("e: %s %q finished %v", got.Reason, got.Message, got.FinishedAt)
	}
	// Created after what it needs ended.
	if got := createRun(t, s, q.waiter(sp.Name, a.ID)); got.State != job.StateQueued {
		t.Errorf("a waiter of a run that succeeded already: %s", got.State)
	}
	if got := createRun(t, s, q.waiter(sp.Name, d.ID)); got.State != job.StateSkipped {
		t.Errorf("a waiter of a run that failed already: %s", got.State)
	}
	// A waiting run cancelled skips its waiters.
	f := createRun(t, s, q.waiter(sp.Name, b.ID))
	g := createRun(t, s, q.waiter(sp.Name, f.ID))
	if _, err := s.RunTransition(ctx, job.Transition{RunID: f.ID, From: job.StateWaiting, To: job.StateCancelled, Time: t0, Reason: job.ReasonCancelled, Message: "cancelled"}); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, g.ID).State; got != job.StateSkipped {
		t.Errorf("the waiter of a cancelled run: %s", got)
	}

	// N_TO_N: task i of y waits for task i of x.
	x, xs := createGroup(t, s, &q, spec("waits-x"), 2)
	put(t, s, spec("waits-y"), t0)
	y := q.run("waits-y", job.StateQueued)
	ys, evs := group.Expand(&y, spec("waits-y"), 2, nil)
	for i := range ys {
		ys[i].State, ys[i].WaitsFor = job.StateWaiting, []string{xs[i].ID}
		evs[i].State = job.StateWaiting
	}
	if _, _, err := s.RunCreateGroup(ctx, y, ys, append([]job.Event{firstEvent(y)}, evs...)); err != nil {
		t.Fatal(err)
	}
	claimIDs(t, s, "x", t0.Add(1e12), 10)
	end(t, s, xs[0], job.StateSucceeded, nil)
	end(t, s, xs[1], job.StateFailed, nil)
	if diff := cmp.Diff([]job.State{job.StateFailed, job.StateQueued, job.StateSkipped}, statesOf(t, s, x, ys[0], ys[1])); diff != "" {
		t.Errorf("x and y's tasks (-want +got):\n%s", diff)
	}
	if got := mustGet(t, s, y.ID); got.Group.Ended != 1 {
		t.Errorf("y's group after a task was skipped: %+v", got.Group)
	}
	claimed := claimIDs(t, s, "x", t0.Add(1e12), 10)
	if len(claimed) != 1 || claimed[0] != ys[0].ID {
		t.Fatalf("claimed %v; want y's task 0", claimed)
	}
	end(t, s, job.Run{ID: ys[0].ID}, job.StateSucceeded, nil)
	if got := mustGet(t, s, y.ID); got.State != job.StateFailed {
		t.Errorf("y once its tasks ended: %s %q", got.State, got.Message)
	}
	// The reconcile pass finds nothing left to do.
	if n, err := s.GroupReconcile(ctx, t0); err != nil || n != 0 {
		t.Errorf("GroupReconcile: %d, %v; want 0", n, err)
	}
}
