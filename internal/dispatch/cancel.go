package dispatch

import (
	"context"
	"errors"
	"fmt"

	"docket.dev/docket/internal/job"
)

// Cancel cancels a run for `by`. A queued or waiting run is cancelled at once; an active one is marked
// and its executor asked to stop it, and the executor reports it cancelled. A run that
// has already finished is a job.ErrConflict. A cancel that reaches an active run before
// its executor holds it is passed on by the pass that started it, once the executor does.
func (d *Dispatcher) Cancel(ctx context.Context, id, by string) (job.Run, error) {
	for range 3 {
		run, err := d.opts.Store.RunGet(ctx, id)
		if err != nil {
			return job.Run{}, err
		}
		if run.State.Terminal() {
			return run, fmt.Errorf("%w: run %s already %s", job.ErrConflict, id, run.State)
		}
		if run.Kind != job.KindRun {
			// Its children stop: those that have not started at once, the others through
			// the servers that hold them.
			run, err := d.opts.Store.RunCancelGroup(ctx, id, by, d.now().UTC())
			d.Wake()
			return run, err
		}
		if run.State == job.StateQueued || run.State == job.StateWaiting {
			err := d.opts.Reporter.Report(ctx, job.Update{
				RunID: id, From: run.State, State: job.StateCancelled, Time: d.now().UTC(),
				Reason: job.ReasonCancelled, Message: "cancelled by " + by + " before it started",
			})
			if errors.Is(err, job.ErrConflict) {
				continue // claimed meanwhile: cancel it as an active run
			}
			if err != nil {
				return job.Run{}, err
			}
			return d.opts.Store.RunGet(ctx, id)
		}
		run, err = d.opts.Store.RunRequestCancel(ctx, id, by)
		if errors.Is(err, job.ErrConflict) {
			continue
		}
		if err != nil {
			return run, err
		}
		if err := d.opts.Executor.Cancel(ctx, id, by); err != nil && !errors.Is(err, job.ErrNotFound) {
			return run, fmt.Errorf("stop run %s: %w", id, err)
		}
		return d.opts.Store.RunGet(ctx, id)
	}
	return job.Run{}, fmt.Errorf("%w: run %s changed state while it was being cancelled, three times; try again", job.ErrConflict, id)
}

// stopRequested asks the executor to stop the runs this server holds that someone asked
// to cancel elsewhere: through another server, or a group whose cancel, or too many failed
// tasks, stops its children. An executor that stops a run already ignores it.
func (d *Dispatcher) stopRequested(ctx context.Context) error {
	runs, err := d.opts.Store.RunCancelRequested(ctx, d.opts.Claimer)
	if err != nil {
		return fmt.Errorf("read cancel requests: %w", err)
	}
	for _, r := range runs {
		if err := d.opts.Executor.Cancel(ctx, r.ID, r.CancelledBy); err != nil && !errors.Is(err, job.ErrNotFound) {
			d.opts.Logger.Error("stop a run someone cancelled", "run_id", r.ID, "err", err)
		}
	}
	return nil
}
