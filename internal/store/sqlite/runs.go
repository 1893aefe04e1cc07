package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlscan"
)

const runColumns = `id, job, revision, state, trigger, scheduled_time, attempt, retry_of, env, idempotency_key,
	exclusive, not_before, created_at, started_at, finished_at, exit_code, reason, message, executor,
	claimed_by, cancel_requested_by`

func scanRun(row scanner) (job.Run, error) {
	var (
		r                            job.Run
		scheduled, retryOf, env, key sql.NullString
		started, finished            sql.NullString
		notBefore, created           string
		exit                         sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.Job, &r.Revision, &r.State, &r.Trigger, &scheduled, &r.Attempt, &retryOf, &env, &key,
		&r.Exclusive, &notBefore, &created, &started, &finished, &exit, &r.Reason, &r.Message, &r.Executor,
		&r.ClaimedBy, &r.CancelledBy)
	if err != nil {
		return r, translate(err)
	}
	r.RetryOf, r.IdempotencyKey = retryOf.String, key.String
	if env.Valid {
		if err := json.Unmarshal([]byte(env.String), &r.Env); err != nil {
			return r, fmt.Errorf("decode env of run %s: %w", r.ID, err)
		}
	}
	if exit.Valid {
		code := int(exit.Int64)
		r.ExitCode = &code
	}
	if r.NotBefore, err = parseTS(notBefore); err != nil {
		return r, err
	}
	if r.CreatedAt, err = parseTS(created); err != nil {
		return r, err
	}
	for _, f := range []struct {
		dst **time.Time
		src sql.NullString
	}{{&r.ScheduledTime, scheduled}, {&r.StartedAt, started}, {&r.FinishedAt, finished}} {
		if *f.dst, err = nullTS(f.src); err != nil {
			return r, err
		}
	}
	return r, nil
}

// insertRun inserts r; onConflict is appended to the statement.
func insertRun(ctx context.Context, tx *sql.Tx, r job.Run, onConflict string) (bool, error) {
	var env any
	if len(r.Env) > 0 {
		b, err := json.Marshal(r.Env)
		if err != nil {
			return false, err
		}
		env = string(b)
	}
	var exit any
	if r.ExitCode != nil {
		exit = *r.ExitCode
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (`+runColumns+`) VALUES (`+placeholders(21)+`) `+onConflict,
		r.ID, r.Job, r.Revision, r.State, r.Trigger, tsPtr(r.ScheduledTime), r.Attempt, nullString(r.RetryOf), env,
		nullString(r.IdempotencyKey), r.Exclusive, ts(r.NotBefore), ts(r.CreatedAt), tsPtr(r.StartedAt), tsPtr(r.FinishedAt),
		exit, r.Reason, r.Message, r.Executor, r.ClaimedBy, r.CancelledBy)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func insertEvent(ctx context.Context, tx *sql.Tx, ev job.Event) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO events (run_id, time, state, reason, message) VALUES (?, ?, ?, ?, ?)`,
		ev.RunID, ts(ev.Time), ev.State, ev.Reason, ev.Message)
	return err
}

// SlotsRecord stores a job's due slots as runs and moves its cursor, guarded by the cursor.
func (s *Store) SlotsRecord(ctx context.Context, fence store.Fence, name string, from, through time.Time, runs []job.Run, events []job.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE definitions SET scheduled_through = ?
			WHERE name = ? AND scheduled_through = ? AND deleted_at IS NULL
			AND (? = '' OR EXISTS (SELECT 1 FROM leases WHERE name = ? AND holder = ? AND token = ?))`,
			ts(through), name, ts(from), fence.Lease, fence.Lease, fence.Holder, fence.Token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: the schedule cursor of job %s moved, or the scheduler's lease passed on", job.ErrConflict, name)
		}
		firstEvent := map[string][]job.Event{}
		for _, ev := range events {
			firstEvent[ev.RunID] = append(firstEvent[ev.RunID], ev)
		}
		for _, r := range runs {
			inserted, err := insertRun(ctx, tx, r, `ON CONFLICT (job, scheduled_time) WHERE trigger = 'schedule' DO NOTHING`)
			if err != nil {
				return err
			}
			if !inserted {
				continue
			}
			for _, ev := range firstEvent[r.ID] {
				if err := insertEvent(ctx, tx, ev); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// RunCreate stores a run, or returns the earlier run with the same idempotency key.
func (s *Store) RunCreate(ctx context.Context, run job.Run, ev job.Event) (job.Run, bool, error) {
	var (
		stored  job.Run
		created bool
	)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if run.IdempotencyKey != "" {
			prev, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE job = ? AND idempotency_key = ?`, run.Job, run.IdempotencyKey))
			if err == nil {
				stored = prev
				return nil
			}
			if !errors.Is(err, job.ErrNotFound) {
				return err
			}
		}
		if _, err := insertRun(ctx, tx, run, ""); err != nil {
			return err
		}
		stored, created = run, true
		return insertEvent(ctx, tx, ev)
	})
	if err != nil {
		return job.Run{}, false, fmt.Errorf("create run of %s: %w", run.Job, err)
	}
	return stored, created, nil
}

// RunGet returns one run.
func (s *Store) RunGet(ctx context.Context, id string) (job.Run, error) {
	return scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
}

// RunList returns a page of runs, newest first. The cursor is the last id of the page.
func (s *Store) RunList(ctx context.Context, f store.RunFilter) ([]job.Run, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	q, args := `SELECT `+runColumns+` FROM runs WHERE 1 = 1`, []any{}
	if f.Job != "" {
		q, args = q+` AND job = ?`, append(args, f.Job)
	}
	if len(f.States) > 0 {
		q += ` AND state IN (` + placeholders(len(f.States)) + `)`
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	if f.Cursor != "" {
		q, args = q+` AND id < ?`, append(args, f.Cursor)
	}
	q, args = q+` ORDER BY id DESC LIMIT ?`, append(args, limit+1)
	runs, err := queryAll(ctx, s.db, scanRun, q, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(runs) > limit {
		runs = runs[:limit]
		next = runs[limit-1].ID
	}
	return runs, next, nil
}

// RunLatest returns each job's newest run (in states), one index probe per job.
func (s *Store) RunLatest(ctx context.Context, states ...job.State) (map[string]job.Run, error) {
	filter, args := "", []any{}
	if len(states) > 0 {
		filter = ` AND r.state IN (` + placeholders(len(states)) + `)`
		for _, st := range states {
			args = append(args, st)
		}
	}
	runs, err := queryAll(ctx, s.db, scanRun, `SELECT `+runColumns+` FROM runs WHERE id IN (
		SELECT (SELECT r.id FROM runs r WHERE r.job = d.name`+filter+` ORDER BY r.id DESC LIMIT 1)
		FROM definitions d WHERE d.deleted_at IS NULL)`, args...)
	if err != nil {
		return nil, err
	}
	latest := make(map[string]job.Run, len(runs))
	for _, r := range runs {
		latest[r.Job] = r
	}
	return latest, nil
}

// RunEnds reads when each job's runs last ended from the runs' indexes and two columns.
func (s *Store) RunEnds(ctx context.Context) (map[string]store.JobEnds, error) {
	type end struct {
		name, state, finished string
		succeeded             sql.NullString
	}
	rows, err := queryAll(ctx, s.db, func(row scanner) (end, error) {
		var e end
		return e, row.Scan(&e.name, &e.state, &e.finished, &e.succeeded)
	}, `SELECT d.name, f.state, f.finished_at,
		(SELECT r.finished_at FROM runs r WHERE r.job = d.name AND r.state = 'succeeded' ORDER BY r.id DESC LIMIT 1)
	FROM definitions d JOIN runs f ON f.id = (
		SELECT r.id FROM runs r WHERE r.job = d.name AND r.state IN ('succeeded', 'failed', 'cancelled') ORDER BY r.id DESC LIMIT 1)
	WHERE d.deleted_at IS NULL AND f.finished_at IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	ends := make(map[string]store.JobEnds, len(rows))
	for _, e := range rows {
		je := store.JobEnds{State: job.State(e.state)}
		if je.Finished, err = parseTS(e.finished); err != nil {
			return nil, err
		}
		succeeded, err := nullTS(e.succeeded)
		if err != nil {
			return nil, err
		}
		if succeeded != nil {
			je.Succeeded = *succeeded
		}
		ends[e.name] = je
	}
	return ends, nil
}

// RunCount counts the runs in each of states.
func (s *Store) RunCount(ctx context.Context, states ...job.State) (map[job.State]int, error) {
	counts := make(map[job.State]int, len(states))
	if len(states) == 0 {
		return counts, nil
	}
	q, args := `SELECT state, COUNT(*) FROM runs WHERE state IN (`+placeholders(len(states))+`) GROUP BY state`, []any{}
	for _, st := range states {
		args = append(args, st)
	}
	type count struct {
		state job.State
		n     int
	}
	rows, err := queryAll(ctx, s.db, func(row scanner) (count, error) {
		var c count
		return c, row.Scan(&c.state, &c.n)
	}, q, args...)
	if err != nil {
		return nil, err
	}
	for _, c := range rows {
		counts[c.state] = c.n
	}
	return counts, nil
}

// RunClaim moves due queued runs to dispatched, oldest first, honouring exclusive runs.
func (s *Store) RunClaim(ctx context.Context, claimer string, now time.Time, limit int) ([]job.Run, error) {
	var claimed []job.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		claimed = nil
		// Jobs with an active run block their exclusive runs.
		busy := map[string]bool{}
		names, err := queryAll(ctx, tx, sqlscan.String, `SELECT DISTINCT job FROM runs WHERE state IN ('dispatched', 'pending', 'running')`)
		if err != nil {
			return err
		}
		for _, name := range names {
			busy[name] = true
		}
		candidates, err := queryAll(ctx, tx, scanRun, `SELECT `+runColumns+` FROM runs WHERE state = 'queued' AND not_before <= ? ORDER BY id`, ts(now))
		if err != nil {
			return err
		}
		for _, r := range candidates {
			if len(claimed) == limit {
				break
			}
			if r.Exclusive && busy[r.Job] {
				continue
			}
			busy[r.Job] = true
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = 'dispatched', claimed_by = ? WHERE id = ? AND state = 'queued'`, claimer, r.ID); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, job.Event{RunID: r.ID, Time: now, State: job.StateDispatched, Reason: "Claimed", Message: "claimed by " + claimer}); err != nil {
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

// RunTransition applies a guarded state change, its event, and t.Then, atomically.
func (s *Store) RunTransition(ctx context.Context, t job.Transition) (job.Run, error) {
	if !job.CanTransition(t.From, t.To) {
		return job.Run{}, fmt.Errorf("run %s: %s to %s is not a transition a run can make", t.RunID, t.From, t.To)
	}
	var out job.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var exit any
		if t.ExitCode != nil {
			exit = *t.ExitCode
		}
		var started, finished any
		if t.To == job.StateRunning {
			started = ts(t.Time)
		}
		if t.To.Terminal() {
			finished = ts(t.Time)
		}
		res, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, reason = ?, message = ?,
			exit_code = COALESCE(?, exit_code),
			started_at = COALESCE(started_at, ?),
			finished_at = COALESCE(?, finished_at),
			claimed_by = CASE WHEN ? = 'queued' THEN '' WHEN ? <> '' THEN ? ELSE claimed_by END
			WHERE id = ? AND state = ?`,
			t.To, t.Reason, t.Message, exit, started, finished, t.To, t.ClaimedBy, t.ClaimedBy, t.RunID, t.From)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, t.RunID)); err != nil {
				return err
			}
			return fmt.Errorf("%w: run %s is no longer %s", job.ErrConflict, t.RunID, t.From)
		}
		if err := insertEvent(ctx, tx, t.Event()); err != nil {
			return err
		}
		if t.Then != nil {
			if _, err := insertRun(ctx, tx, *t.Then, ""); err != nil {
				return err
			}
			if err := insertEvent(ctx, tx, job.Event{RunID: t.Then.ID, Time: t.Time, State: t.Then.State, Reason: t.Then.Reason, Message: t.Then.Message}); err != nil {
				return err
			}
		}
		out, err = scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, t.RunID))
		return err
	})
	return out, err
}

// RunRequestCancel records the first request to cancel an unfinished run.
func (s *Store) RunRequestCancel(ctx context.Context, id, by string) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if r.State.Terminal() {
			return fmt.Errorf("%w: run %s already %s", job.ErrConflict, id, r.State)
		}
		if r.CancelledBy == "" {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET cancel_requested_by = ? WHERE id = ?`, by, id); err != nil {
				return err
			}
			r.CancelledBy = by
		}
		out = r
		return nil
	})
	return out, err
}

// EventAppend records an event that leaves the run's state as it is.
func (s *Store) EventAppend(ctx context.Context, ev job.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ?`, ev.RunID).Scan(&one); err != nil {
			return err
		}
		return insertEvent(ctx, tx, ev)
	})
}

// EventList returns a run's events, oldest first.
func (s *Store) EventList(ctx context.Context, runID string) ([]job.Event, error) {
	events, err := queryAll(ctx, s.db, scanEvent, `SELECT id, run_id, time, state, reason, message FROM events WHERE run_id = ? ORDER BY id`, runID)
	if events == nil && err == nil {
		events = []job.Event{}
	}
	return events, err
}

func scanEvent(row scanner) (job.Event, error) {
	var (
		ev job.Event
		at string
	)
	if err := row.Scan(&ev.ID, &ev.RunID, &at, &ev.State, &ev.Reason, &ev.Message); err != nil {
		return ev, translate(err)
	}
	var err error
	ev.Time, err = parseTS(at)
	return ev, err
}

// RunReclaim hands an active run from a server that is gone to another.
func (s *Store) RunReclaim(ctx context.Context, id, from, to string, ev job.Event) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET claimed_by = ?
			WHERE id = ? AND claimed_by = ? AND state IN ('pending', 'running')`, to, id, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id)); err != nil {
				return err
			}
			return fmt.Errorf("%w: run %s is no longer active under %s", job.ErrConflict, id, from)
		}
		if err := insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		out, err = scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
		return err
	})
	return out, err
}
