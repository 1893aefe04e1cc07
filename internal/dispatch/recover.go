package dispatch

import (
	"context"
	"fmt"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Recover settles the runs that servers now dead left unfinished; dead says whether the
// server a run was claimed by is gone. A dispatched run had not started (the executor
// records the start), so it goes back to the queue and runs once. A pending or running run
// lost its process with its server, so it is failed as interrupted, and its retry policy
// decides whether it runs again; it is never started a second time under the same attempt.
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
		if !dead(r.ClaimedBy) {
			continue
		}
		log := d.opts.Logger.With("run_id", r.ID, "job", r.Job, "state", r.State, "claimed_by", r.ClaimedBy)
		switch r.State {
		case job.StateDispatched:
			_, err := d.opts.Store.RunTransition(ctx, job.Transition{
				RunID: r.ID, From: r.State, To: job.StateQueued, Time: now,
				Reason: "Requeued", Message: fmt.Sprintf("the server that claimed the run (%s) stopped before it started, so it was put back in the queue", r.ClaimedBy),
			})
			if err != nil {
				return fmt.Errorf("requeue run %s: %w", r.ID, err)
			}
			log.Info("run requeued after its server stopped")
		default:
			if r.CancelledBy != "" {
				d.report(ctx, job.Update{RunID: r.ID, State: job.StateCancelled, Reason: "Cancelled", Message: "cancelled by " + r.CancelledBy + "; its server stopped before the run was"})
				continue
			}
			d.report(ctx, job.Update{RunID: r.ID, State: job.StateFailed, Reason: "Interrupted", Message: fmt.Sprintf("the docket server running it (%s) stopped during the run", r.ClaimedBy)})
			log.Warn("run interrupted by its server stopping")
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

// Instances is what liveness needs of the store.
type Instances interface {
	InstanceBeat(ctx context.Context, id string, now time.Time) error
	InstanceList(ctx context.Context) ([]store.Instance, error)
	InstanceForget(ctx context.Context, id string) error
}

// Liveness keeps this server's heartbeat in the store and recovers the runs of servers
// whose heartbeat stopped: every TTL/3 it beats, and it takes a server that has not beaten
// for a TTL as dead.
type Liveness struct {
	Store      Instances
	Dispatcher *Dispatcher
	// Self is this server's instance id (the dispatcher's Claimer).
	Self string
	TTL  time.Duration
	Now  func() time.Time
}

// Start beats once and recovers what servers stopped before this one left: at start-up,
// every other instance that has not beaten within the TTL, and every claimer the store
// has no heartbeat of (a server from before heartbeats, or one forgotten).
func (l *Liveness) Start(ctx context.Context) error {
	if err := l.Store.InstanceBeat(ctx, l.Self, l.Now().UTC()); err != nil {
		return fmt.Errorf("record heartbeat: %w", err)
	}
	return l.recover(ctx)
}

// Run beats and recovers until ctx ends.
func (l *Liveness) Run(ctx context.Context) error {
	t := time.NewTicker(l.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := l.Store.InstanceBeat(ctx, l.Self, l.Now().UTC()); err != nil && ctx.Err() == nil {
			l.Dispatcher.opts.Logger.Error("record heartbeat", "err", err)
			continue
		}
		if err := l.recover(ctx); err != nil && ctx.Err() == nil {
			l.Dispatcher.opts.Logger.Error("recover runs of stopped servers", "err", err)
		}
	}
}

// Dead reports, from the store's heartbeats, which claimers are gone.
func (l *Liveness) Dead(ctx context.Context) (func(claimer string) bool, []string, error) {
	instances, err := l.Store.InstanceList(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list instances: %w", err)
	}
	cutoff := l.Now().UTC().Add(-l.TTL)
	alive := map[string]bool{l.Self: true}
	var gone []string
	for _, in := range instances {
		if in.ID == l.Self {
			continue
		}
		if in.BeatAt.After(cutoff) {
			alive[in.ID] = true
		} else {
			gone = append(gone, in.ID)
		}
	}
	return func(claimer string) bool { return !alive[claimer] }, gone, nil
}

func (l *Liveness) recover(ctx context.Context) error {
	// Runs first, heartbeats second: a server beats before it claims, so every claimer in
	// the list has a heartbeat in the later read, and a server that has just started is
	// not taken for dead.
	runs, err := l.Dispatcher.unfinished(ctx)
	if err != nil {
		return err
	}
	dead, gone, err := l.Dead(ctx)
	if err != nil {
		return err
	}
	if err := l.Dispatcher.settle(ctx, runs, dead); err != nil {
		return err
	}
	// Their runs are settled: forget them, so the table holds the living.
	for _, id := range gone {
		if err := l.Store.InstanceForget(ctx, id); err != nil {
			return fmt.Errorf("forget instance %s: %w", id, err)
		}
	}
	return nil
}
