package dispatch

import (
	"context"
	"errors"
	"testing"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

func TestCancel(t *testing.T) {
	t.Parallel()
	d, st, ex := setup(t, 4)
	ctx := context.Background()
	q := submit(t, st, job.Run{})
	got, err := d.Cancel(ctx, q.ID, "ana")
	if err != nil || got.State != job.StateCancelled || got.Message != "cancelled by ana before it started" {
		t.Errorf("cancel queued: %+v %v", got, err)
	}
	if _, err := d.Cancel(ctx, q.ID, "ana"); !errors.Is(err, job.ErrConflict) {
		t.Errorf("cancel finished: err %v, want ErrConflict", err)
	}
	r := submit(t, st, job.Run{ID: job.NewRunID(t0.Add(1))})
	for _, step := range [][2]job.State{{job.StateQueued, job.StateDispatched}, {job.StateDispatched, job.StatePending}, {job.StatePending, job.StateRunning}} {
		if _, err := st.RunTransition(ctx, job.Transition{RunID: r.ID, From: step[0], To: step[1], Time: t0}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = d.Cancel(ctx, r.ID, "bo")
	if err != nil || got.CancelledBy != "bo" || len(ex.cancelled) != 1 || ex.cancelled[0] != r.ID+" by bo" {
		t.Errorf("cancel running: %+v %v, executor asked %v", got, err, ex.cancelled)
	}
	// The executor then reports the run failed (killed); a cancelled run is not retried.
	if err := d.opts.Reporter.Report(ctx, job.Update{RunID: r.ID, State: job.StateFailed, Reason: "Signaled", Time: t0}); err != nil {
		t.Fatal(err)
	}
	if queued, _, _ := st.RunList(ctx, store.RunFilter{States: []job.State{job.StateQueued}}); len(queued) != 0 {
		t.Errorf("a run someone cancelled was retried: %v", queued)
	}
}

// TestCancelClaimedMeanwhile: the cancel of a queued run is refused once a dispatcher has
// claimed the run, so Cancel goes on to cancel it as an active run, through its executor.
func TestCancelClaimedMeanwhile(t *testing.T) {
	t.Parallel()
	d, st, _ := setup(t, 4)
	ctx := context.Background()
	r := submit(t, st, job.Run{})
	if _, err := st.RunClaim(ctx, "other", t0, 1); err != nil {
		t.Fatal(err)
	}
	err := d.opts.Reporter.Report(ctx, job.Update{RunID: r.ID, From: job.StateQueued, State: job.StateCancelled, Reason: "Cancelled", Time: t0})
	if !errors.Is(err, job.ErrConflict) {
		t.Errorf("an update from queued of a claimed run: err %v, want ErrConflict", err)
	}
	if got, _ := st.RunGet(ctx, r.ID); got.State != job.StateDispatched {
		t.Errorf("run is %s after a refused update; want dispatched", got.State)
	}
}

// cancelWhileStarting is an executor at whose start someone asks to cancel the run: the
// request is stored before the executor holds the run, so it finds nothing to stop.
type cancelWhileStarting struct {
	executor
	st store.Store
}

func (e *cancelWhileStarting) Start(ctx context.Context, x job.Execution) error {
	if _, err := e.st.RunRequestCancel(ctx, x.Run.ID, "cy"); err != nil {
		return err
	}
	return e.executor.Start(ctx, x)
}

// TestCancelWhileStarting: a cancel stored between the claim and the executor's start is
// passed on to the executor by the same pass, once the executor holds the run.
func TestCancelWhileStarting(t *testing.T) {
	t.Parallel()
	d, st, _ := setup(t, 4)
	ex := &cancelWhileStarting{st: st}
	d.opts.Executor = ex
	ctx := context.Background()
	r := submit(t, st, job.Run{})
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if len(ex.started) != 1 || len(ex.cancelled) != 1 || ex.cancelled[0] != r.ID+" by cy" {
		t.Errorf("started %d, cancelled %v; want %s started and cancelled by cy", len(ex.started), ex.cancelled, r.ID)
	}
}
