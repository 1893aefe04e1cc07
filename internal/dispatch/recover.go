package dispatch

import (
	"context"
	"fmt"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Recover settles the runs a previous server process left unfinished. A dispatched run had
// not started (the executor records the start), so it goes back to the queue and runs once.
// A pending or running run lost its process with the server (the process executor's
// children die with it), so it is failed as interrupted, and its retry policy decides
// whether it runs again; it is never started a second time under the same attempt.
func (d *Dispatcher) Recover(ctx context.Context) error {
	runs, err := d.unfinished(ctx)
	if err != nil {
		return err
	}
	now := d.now().UTC()
	for _, r := range runs {
		log := d.opts.Logger.With("run_id", r.ID, "job", r.Job, "state", r.State)
		switch r.State {
		case job.StateDispatched:
			_, err := d.opts.Store.RunTransition(ctx, job.Transition{
				RunID: r.ID, From: r.State, To: job.StateQueued, Time: now,
				Reason: "Requeued", Message: "the server restarted before the run started, so it was put back in the queue",
			})
			if err != nil {
				return fmt.Errorf("requeue run %s: %w", r.ID, err)
			}
			log.Info("run requeued after restart")
		default:
			if r.CancelledBy != "" {
				d.report(ctx, job.Update{RunID: r.ID, State: job.StateCancelled, Reason: "Cancelled", Message: "cancelled by " + r.CancelledBy + "; the server stopped before the process was"})
				continue
			}
			d.report(ctx, job.Update{RunID: r.ID, State: job.StateFailed, Reason: "Interrupted", Message: "the docket server stopped during the run"})
			log.Warn("run interrupted by restart")
		}
	}
	return nil
}

// unfinished lists the runs that a dispatcher had claimed and not seen finish.
func (d *Dispatcher) unfinished(ctx context.Context) ([]job.Run, error) {
	var all []job.Run
	f := store.RunFilter{States: job.ActiveStates, Limit: store.MaxLimit}
	for {
		runs, next, err := d.opts.Store.RunList(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("list unfinished runs: %w", err)
		}
		all = append(all, runs...)
		if next == "" {
			return all, nil
		}
		f.Cursor = next
	}
}
