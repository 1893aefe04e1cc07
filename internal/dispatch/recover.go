package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Recover settles the runs that servers now dead left unfinished; dead says whether the
// server a run was claimed by is gone. A dispatched run had not started (the executor
// records the start), so it goes back to the queue and runs once. A pending or running run
// whose work goes on without its server (a Kubernetes Job) is followed on by this server;
// one that lost its process with its server is failed as interrupted, what is left of its
// processes killed first (a Sweeper executor), and its retry policy decides whether it runs
// again; it is never started a second time under the same attempt.
func (d *Dispatcher) Recover(ctx context.Context, dead func(claimer string) bool) error {
	runs, err := d.unfinished(ctx)
	if err != nil {
		return err
	}
	return d.settle(ctx, runs, dead)
}

// settle recovers those of runs whose claimer is dead.
func (d *Dispatcher) settle(ctx context.Context, runs []job.Run, dead func(claimer string) bool) error {
	now := d.now().UTC()
	for _, r := range runs {
		// A group run runs nothing and is claimed by nobody: its children are recovered,
		// and their ends end it.
		if r.Kind != job.KindRun || !dead(r.ClaimedBy) {
			continue
		}
		log := d.opts.Logger.With("run_id", r.ID, "job", r.Job, "state", r.State, "claimed_by", r.ClaimedBy)
		switch r.State {
		case job.StateDispatched:
			_, err := d.opts.Store.RunTransition(ctx, job.Transition{
				RunID: r.ID, From: r.State, To: job.StateQueued, Time: now,
				Reason: job.ReasonRequeued, Message: fmt.Sprintf("the server that claimed the run (%s) stopped before it started, so it was put back in the queue", r.ClaimedBy),
			})
			if err != nil {
				return fmt.Errorf("requeue run %s: %w", r.ID, err)
			}
			log.Info("run requeued after its server stopped")
		default:
			if r.CancelledBy == "" && d.adopt(ctx, r, log) {
				continue
			}
			if s, ok := d.opts.Executor.(Sweeper); ok {
				if err := s.Sweep(ctx, r.ID); err != nil {
					return fmt.Errorf("end what is left of run %s: %w", r.ID, err)
				}
			}
			if r.CancelledBy != "" {
				d.report(ctx, job.Update{RunID: r.ID, State: job.StateCancelled, Reason: job.ReasonCancelled, Message: "cancelled by " + r.CancelledBy + "; its server stopped before the run was"})
				continue
			}
			d.report(ctx, job.Update{RunID: r.ID, State: job.StateFailed, Reason: job.ReasonInterrupted, Message: fmt.Sprintf("the docket server running it (%s) stopped during the run", r.ClaimedBy)})
			log.Warn("run interrupted by its server stopping")
		}
	}
	return nil
}

// adopt follows on a run whose work outlived its server, when the executor can. The run is
// claimed first, so two servers recovering it at once do not both follow it. It returns
// false when the run is to be failed as interrupted.
func (d *Dispatcher) adopt(ctx context.Context, r job.Run, log *slog.Logger) bool {
	a, ok := d.opts.Executor.(Adopter)
	if !ok {
		return false
	}
	x, err := d.resolve(ctx, r)
	if err != nil {
		log.Warn("cannot follow the run on", "err", err)
		return false
	}
	_, err = d.opts.Store.RunReclaim(ctx, r.ID, r.ClaimedBy, d.opts.Claimer, job.Event{
		RunID: r.ID, Time: d.now().UTC(), State: r.State, Reason: job.ReasonAdopted,
		Message: fmt.Sprintf("the server that started the run (%s) stopped; %s follows it on", r.ClaimedBy, d.opts.Claimer),
	})
	switch {
	case errors.Is(err, job.ErrConflict):
		return true // another server took it, or it ended meanwhile
	case err != nil:
		log.Warn("cannot claim the run to follow it on", "err", err)
		return false
	}
	logged, err := d.opts.Store.LogSize(ctx, r.ID)
	if err != nil {
		log.Warn("read the run's log size", "err", err)
	}
	adopted, err := a.Adopt(ctx, x, logged)
	if err != nil {
		log.Warn("cannot follow the run on", "err", err)
	}
	if adopted {
		log.Info("run followed on after its server stopped")
	}
	return adopted
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
