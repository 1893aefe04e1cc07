package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// activeStates is the SQL list of job.ActiveStates.
const activeStates = `('dispatched', 'pending', 'running')`

// onSlot keeps a second run of one job's cron slot out.
const onSlot = `ON CONFLICT (job, scheduled_time) WHERE trigger = 'schedule' DO NOTHING`

// SlotsRecord stores a job's due slots as runs and moves its cursor, guarded by the cursor
// and, under a leader's lease, by the lease's term.
func (s *Store) SlotsRecord(ctx context.Context, fence store.Fence, name string, from, through time.Time, runs []job.Run, events []job.Event) error {
	return s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, `UPDATE definitions SET scheduled_through = ?
			WHERE name = ? AND scheduled_through = ? AND deleted_at IS NULL
			AND (? = '' OR EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? AND token = ?))`,
			s.ts(through), name, s.ts(from), fence.Lease, fence.Lease, fence.Holder, fence.Token)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: the schedule cursor of job %s moved, or the scheduler's lease passed on", job.ErrConflict, name)
		}
		inserted, err := s.insertRuns(ctx, c, runs, onSlot)
		if err != nil {
			return err
		}
		// Only the runs inserted now get their first event; the others have theirs.
		events = slices.DeleteFunc(slices.Clone(events), func(ev job.Event) bool { return !inserted[ev.RunID] })
		return s.insertEvents(ctx, c, events)
	})
}

// claimScan caps how many queued runs one claim looks at (and, where rows are locked,
// locks).
const claimScan = 1000

// RunClaim moves due queued runs to dispatched, oldest first, honouring exclusive runs.
// Where the dialect locks rows, queued rows are read SKIP LOCKED, so concurrent claimers
// take different runs without waiting, and a claimer takes the dialect's per-job lock
// for each job it claims for, without waiting: a job another claimer is claiming for is
// left to the next pass. Under that lock an exclusive run sees every committed claim of
// its job, so no two claimers start exclusive runs of one job at once.
func (s *Store) RunClaim(ctx context.Context, claimer string, now time.Time, limit int) ([]job.Run, error) {
	var claimed []job.Run
	err := s.tx(ctx, func(c conn) error {
		claimed = nil
		candidates, err := all(ctx, c, scanRun, `SELECT `+runColumns+` FROM runs
			WHERE state = 'queued' AND not_before <= ? ORDER BY id LIMIT ?`+s.d.SkipLocked(), s.ts(now), claimScan)
		if err != nil {
			return err
		}
		locked := map[string]bool{}     // jobs whose claim lock this transaction holds
		claimedFor := map[string]bool{} // jobs with a run claimed in this transaction
		for _, r := range candidates {
			if len(claimed) == limit {
				break
			}
			if !locked[r.Job] {
				ok, err := s.d.LockJob(ctx, c.q, r.Job)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				locked[r.Job] = true
			}
			if r.Exclusive {
				if claimedFor[r.Job] {
					continue
				}
				var busy bool
				if err := c.row(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE job = ? AND state IN `+activeStates+`)`, r.Job).Scan(&busy); err != nil {
					return err
				}
				if busy {
					continue
				}
			}
			claimedFor[r.Job] = true
			if _, err := c.exec(ctx, `UPDATE runs SET state = 'dispatched', claimed_by = ? WHERE id = ?`, claimer, r.ID); err != nil {
				return err
			}
			ev := job.Event{RunID: r.ID, Time: now, State: job.StateDispatched, Reason: "Claimed", Message: "claimed by " + claimer}
			if err := s.insertEvents(ctx, c, []job.Event{ev}); err != nil {
				return err
			}
			r.State, r.ClaimedBy = job.StateDispatched, claimer
			claimed = append(claimed, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim runs: %w", err)
	}
	return claimed, nil
}

// RunTransition applies a guarded state change, its event, and t.Then, atomically. A run
// that starts running is stamped started (once); one that ends is stamped finished.
func (s *Store) RunTransition(ctx context.Context, t job.Transition) (job.Run, error) {
	if !job.CanTransition(t.From, t.To) {
		return job.Run{}, fmt.Errorf("run %s: %s to %s is not a transition a run can make", t.RunID, t.From, t.To)
	}
	var out job.Run
	err := s.tx(ctx, func(c conn) error {
		var exit any
		if t.ExitCode != nil {
			exit = *t.ExitCode
		}
		var started, finished any
		if t.To == job.StateRunning {
			started = s.ts(t.Time)
		}
		if t.To.Terminal() {
			finished = s.ts(t.Time)
		}
		claimedBy := t.ClaimedBy
		if t.To == job.StateQueued {
			claimedBy = "" // back in the queue: nobody holds it
		}
		n, err := c.execN(ctx, `UPDATE runs SET state = ?, reason = ?, message = ?,
			exit_code = COALESCE(?, exit_code),
			started_at = COALESCE(started_at, ?),
			finished_at = COALESCE(?, finished_at),
			claimed_by = CASE WHEN ? THEN ? ELSE claimed_by END
			WHERE id = ? AND state = ?`,
			t.To, t.Reason, t.Message, exit, started, finished,
			t.To == job.StateQueued || claimedBy != "", claimedBy, t.RunID, t.From)
		if err != nil {
			return err
		}
		if n == 0 {
			return s.missed(ctx, c, t.RunID, fmt.Sprintf("run %s is no longer %s", t.RunID, t.From))
		}
		events := []job.Event{t.Event()}
		if t.Then != nil {
			if _, err := s.insertRun(ctx, c, *t.Then, ""); err != nil {
				return err
			}
			events = append(events, job.Event{RunID: t.Then.ID, Time: t.Time, State: t.Then.State, Reason: t.Then.Reason, Message: t.Then.Message})
		}
		if err := s.insertEvents(ctx, c, events); err != nil {
			return err
		}
		out, err = getRun(ctx, c, t.RunID)
		return err
	})
	return out, err
}

// missed is the error of a guarded write that changed no row: job.ErrNotFound when the
// run does not exist, else job.ErrConflict saying why.
func (s *Store) missed(ctx context.Context, c conn, id, why string) error {
	if _, err := getRun(ctx, c, id); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", job.ErrConflict, why)
}

// RunRequestCancel records the first request to cancel an unfinished run.
func (s *Store) RunRequestCancel(ctx context.Context, id, by string) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, `UPDATE runs SET cancel_requested_by = ?
			WHERE id = ? AND cancel_requested_by = '' AND state NOT IN ('succeeded', 'failed', 'cancelled', 'skipped')`, by, id)
		if err != nil {
			return err
		}
		if out, err = getRun(ctx, c, id); err != nil {
			return err
		}
		if n == 0 && out.State.Terminal() {
			return fmt.Errorf("%w: run %s already %s", job.ErrConflict, id, out.State)
		}
		return nil
	})
	return out, err
}

// RunReclaim hands an active run from a server that is gone to another.
func (s *Store) RunReclaim(ctx context.Context, id, from, to string, ev job.Event) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, `UPDATE runs SET claimed_by = ?
			WHERE id = ? AND claimed_by = ? AND state IN ('pending', 'running')`, to, id, from)
		if err != nil {
			return err
		}
		if n == 0 {
			return s.missed(ctx, c, id, fmt.Sprintf("run %s is no longer active under %s", id, from))
		}
		if err := s.insertEvents(ctx, c, []job.Event{ev}); err != nil {
			return err
		}
		out, err = getRun(ctx, c, id)
		return err
	})
	return out, err
}
