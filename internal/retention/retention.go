// Package retention keeps Docket's history to a policy: finished runs are deleted with their
// events and logs after a while, logs may go sooner, and each job's newest finished runs stay
// whatever their age, so a monthly job still shows its last outcomes. Active runs are never
// touched. On a shared database one server prunes at a time (the holder of a lease).
package retention

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"docket.dev/docket/internal/job"
)

// Policy says how long history is kept. Zero durations keep forever.
type Policy struct {
	// Runs is how long a finished run (with its events and log) is kept after it finished.
	Runs time.Duration
	// Logs is how long a finished run's log is kept; past it the run says its log expired.
	Logs time.Duration
	// Keep is how many of each job's newest finished runs are kept however old they are.
	Keep int
}

// Validate names the setting that makes no sense.
func (p Policy) Validate() error {
	switch {
	case p.Runs < 0:
		return fmt.Errorf("run retention %v is negative; use 0 to keep runs forever", p.Runs)
	case p.Logs < 0:
		return fmt.Errorf("log retention %v is negative; use 0 to keep logs as long as their run", p.Logs)
	case p.Keep < 0:
		return fmt.Errorf("runs kept per job %d is negative", p.Keep)
	}
	return nil
}

// Store is what the janitor needs of the store.
type Store interface {
	RunPrune(ctx context.Context, before time.Time, keep, limit int) (int, error)
	LogPrune(ctx context.Context, cursor string, before time.Time, limit int, ev job.Event) (string, int, error)
	BlobPrune(ctx context.Context, before time.Time, limit int) (int, error)
}

// Janitor applies a Policy every Interval.
type Janitor struct {
	Store  Store
	Policy Policy
	// Interval is the time between passes; default 10 minutes.
	Interval time.Duration
	// Batch is how many runs one transaction deletes or looks at; default 500, so a pass
	// over a large backlog never holds the database for long.
	Batch  int
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	// logCursor is where the last log pass stopped: logs of runs that finished before it
	// are gone, so each pass looks only at runs that aged since.
	logCursor string
}

// Pruned is what one pass did.
type Pruned struct {
	// Runs is how many finished runs were deleted.
	Runs int
	// LogRuns is how many finished runs had their logs removed (if they still had any).
	LogRuns int
	// Blobs is how many blobs no run named were deleted.
	Blobs int
}

// Run prunes at once and then every Interval until ctx ends. A failed pass is logged and
// tried again at the next interval.
func (j *Janitor) Run(ctx context.Context) error {
	if j.Policy.Runs == 0 && j.Policy.Logs == 0 {
		<-ctx.Done()
		return nil
	}
	interval := j.Interval
	if interval <= 0 {
		interval = 10 * time.Minute
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		p, err := j.Pass(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			j.Logger.Warn("history retention pass failed; trying again later", "err", err, "retry_in", interval)
		case p.Runs > 0 || p.LogRuns > 0:
			j.Logger.Info("history pruned", "runs_deleted", p.Runs, "log_runs_swept", p.LogRuns)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Pass applies the policy once, in batches, until nothing more is due.
func (j *Janitor) Pass(ctx context.Context) (Pruned, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	batch := j.Batch
	if batch <= 0 {
		batch = 500
	}
	var p Pruned
	t := now().UTC()
	if j.Policy.Runs > 0 {
		for {
			n, err := j.Store.RunPrune(ctx, t.Add(-j.Policy.Runs), j.Policy.Keep, batch)
			p.Runs += n
			if err != nil {
				return p, fmt.Errorf("prune runs: %w", err)
			}
			if n < batch {
				break
			}
		}
	}
	if j.Policy.Logs > 0 && (j.Policy.Runs == 0 || j.Policy.Logs < j.Policy.Runs) {
		note := job.Event{
			Time:    t,
			Reason:  job.ReasonLogsExpired,
			Message: fmt.Sprintf("its output was removed %s after it finished, as the server's log retention says", words(j.Policy.Logs)),
		}
		for {
			next, n, err := j.Store.LogPrune(ctx, j.logCursor, t.Add(-j.Policy.Logs), batch, note)
			p.LogRuns += n
			if err != nil {
				return p, fmt.Errorf("prune logs: %w", err)
			}
			j.logCursor = next
			if n < batch {
				break
			}
		}
	}
	// Blobs no run names any more go, once their upload had a day to be submitted with.
	for {
		n, err := j.Store.BlobPrune(ctx, t.Add(-BlobGrace), batch)
		p.Blobs += n
		if err != nil {
			return p, fmt.Errorf("prune blobs: %w", err)
		}
		if n < batch {
			break
		}
	}
	return p, nil
}

// BlobGrace is how long a blob no run names is kept: an upload and the submission that
// names it are two requests, with a person's pause between them.
const BlobGrace = 24 * time.Hour

// words writes a retention period as people say it: whole days as days.
func words(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == day:
		return "1 day"
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return d.String()
}
