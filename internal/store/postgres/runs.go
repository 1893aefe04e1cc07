package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
		retryOf, env, key            sql.NullString
		scheduled, started, finished sql.NullTime
		exit                         sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.Job, &r.Revision, &r.State, &r.Trigger, &scheduled, &r.Attempt, &retryOf, &env, &key,
		&r.Exclusive, &r.NotBefore, &r.CreatedAt, &started, &finished, &exit, &r.Reason, &r.Message, &r.Executor,
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
	r.NotBefore, r.CreatedAt = r.NotBefore.UTC(), r.CreatedAt.UTC()
	r.ScheduledTime, r.StartedAt, r.FinishedAt = nullTS(scheduled), nullTS(started), nullTS(finished)
	return r, nil
}

// runArgs are r's values in runColumns order.
func runArgs(r job.Run) ([]any, error) {
	var env any
	if len(r.Env) > 0 {
		b, err := json.Marshal(r.Env)
		if err != nil {
			return nil, err
		}
		env = string(b)
	}
	var exit any
	if r.ExitCode != nil {
		exit = *r.ExitCode
	}
	return []any{r.ID, r.Job, r.Revision, r.State, r.Trigger, tsPtr(r.ScheduledTime), r.Attempt, nullString(r.RetryOf), env,
		nullString(r.IdempotencyKey), r.Exclusive, ts(r.NotBefore), ts(r.CreatedAt), tsPtr(r.StartedAt), tsPtr(r.FinishedAt),
		exit, r.Reason, r.Message, r.Executor, r.ClaimedBy, r.CancelledBy}, nil
}

// insertRun inserts r; onConflict is appended to the statement.
func insertRun(ctx context.Context, tx *sql.Tx, r job.Run, onConflict string) (bool, error) {
	args, err := runArgs(r)
	if err != nil {
		return false, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (`+runColumns+`) VALUES `+rowParams(0, len(args))+` `+onConflict, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// insertRuns inserts runs in as few statements as the protocol allows and returns the ids
// it inserted; onConflict is appended to each statement.
func insertRuns(ctx context.Context, tx *sql.Tx, runs []job.Run, onConflict string) (map[string]bool, error) {
	const perStatement = 1000 // 21 parameters each, under PostgreSQL's 65,535
	inserted := map[string]bool{}
	for chunk := range slices.Chunk(runs, perStatement) {
		var q strings.Builder
		q.WriteString(`INSERT INTO runs (` + runColumns + `) VALUES `)
		args := make([]any, 0, len(chunk)*21)
		for i, r := range chunk {
			ra, err := runArgs(r)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(rowParams(len(args), len(ra)))
			args = append(args, ra...)
		}
		q.WriteString(" " + onConflict + " RETURNING id")
		ids, err := queryAll(ctx, tx, sqlscan.String, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			inserted[id] = true
		}
	}
	return inserted, nil
}

func insertEvent(ctx context.Context, tx *sql.Tx, ev job.Event) error {
	return insertEvents(ctx, tx, []job.Event{ev})
}

// insertEvents inserts events in as few statements as the protocol allows.
func insertEvents(ctx context.Context, tx *sql.Tx, events []job.Event) error {
	const perStatement = 5000 // 5 parameters each
	for chunk := range slices.Chunk(events, perStatement) {
		var q strings.Builder
		q.WriteString(`INSERT INTO events (run_id, time, state, reason, message) VALUES `)
		args := make([]any, 0, len(chunk)*5)
		for i, ev := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(rowParams(len(args), 5))
			args = append(args, ev.RunID, ts(ev.Time), ev.State, ev.Reason, ev.Message)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// rowParams returns "($after+1, ..., $after+n)".
func rowParams(after, n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(after+i+1))
	}
	b.WriteByte(')')
	return b.String()
}

func getRun(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (job.Run, error) {
	return scanRun(q.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
}

// SlotsRecord stores a job's due slots as runs and moves its cursor, guarded by the cursor.
func (s *Store) SlotsRecord(ctx context.Context, fence store.Fence, name string, from, through time.Time, runs []job.Run, events []job.Event) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE definitions SET scheduled_through = $1
			WHERE name = $2 AND scheduled_through = $3 AND deleted_at IS NULL
			AND ($4 = '' OR EXISTS (SELECT 1 FROM leases WHERE name = $4 AND holder = $5 AND token = $6))`,
			ts(through), name, ts(from), fence.Lease, fence.Holder, fence.Token)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: the schedule cursor of job %s moved, or the scheduler's lease passed on", job.ErrConflict, name)
		}
		inserted, err := insertRuns(ctx, tx, runs, `ON CONFLICT (job, scheduled_time) WHERE trigger = 'schedule' DO NOTHING`)
		if err != nil {
			return err
		}
		// Only the runs inserted now get their first event; the others have theirs.
		events = slices.DeleteFunc(slices.Clone(events), func(ev job.Event) bool { return !inserted[ev.RunID] })
		return insertEvents(ctx, tx, events)
	})
}

// RunCreate stores a run, or returns the earlier run with the same idempotency key.
func (s *Store) RunCreate(ctx context.Context, run job.Run, ev job.Event) (job.Run, bool, error) {
	var (
		stored  job.Run
		created bool
	)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		inserted, err := insertRun(ctx, tx, run, `ON CONFLICT (job, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`)
		if err != nil {
			return err
		}
		if !inserted {
			// The key was used: answer with the run it made.
			stored, err = scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE job = $1 AND idempotency_key = $2`, run.Job, run.IdempotencyKey))
			return err
		}
		stored, created = asStored(run), true
		return insertEvent(ctx, tx, ev)
	})
	if err != nil {
		return job.Run{}, false, fmt.Errorf("create run of %s: %w", run.Job, err)
	}
	return stored, created, nil
}

// asStored returns r with its times as PostgreSQL keeps them (UTC, to the microsecond),
// so a caller holds what a later read returns without reading it back.
func asStored(r job.Run) job.Run {
	r.NotBefore, r.CreatedAt = ts(r.NotBefore), ts(r.CreatedAt)
	for _, p := range []**time.Time{&r.ScheduledTime, &r.StartedAt, &r.FinishedAt} {
		if *p != nil {
			t := ts(**p)
			*p = &t
		}
	}
	return r
}

// RunGet returns one run.
func (s *Store) RunGet(ctx context.Context, id string) (job.Run, error) {
	return getRun(ctx, s.db, id)
}

// RunList returns a page of runs, newest first. The cursor is the last id of the page.
func (s *Store) RunList(ctx context.Context, f store.RunFilter) ([]job.Run, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	q, args := `SELECT `+runColumns+` FROM runs WHERE TRUE`, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Job != "" {
		q += ` AND job = ` + arg(f.Job)
	}
	if len(f.States) > 0 {
		q += ` AND state = ANY(` + arg(stateStrings(f.States)) + `)`
	}
	if f.Cursor != "" {
		q += ` AND id < ` + arg(f.Cursor)
	}
	q += ` ORDER BY id DESC LIMIT ` + arg(limit+1)
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

// claimScan caps how many queued runs one claim looks at (and locks).
const claimScan = 1000

// RunLatest returns each job's newest run (in states), one index probe per job.
func (s *Store) RunLatest(ctx context.Context, states ...job.State) (map[string]job.Run, error) {
	filter, args := "", []any{}
	if len(states) > 0 {
		filter, args = ` AND r.state = ANY($1)`, []any{stateStrings(states)}
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

// RunEnds reads when each job's runs last ended with two index walks per job (LATERAL:
// a join on the newest run's id has the planner hash the whole runs table).
func (s *Store) RunEnds(ctx context.Context) (map[string]store.JobEnds, error) {
	type end struct {
		name      string
		ends      store.JobEnds
		succeeded sql.NullTime
	}
	rows, err := queryAll(ctx, s.db, func(row scanner) (end, error) {
		var e end
		return e, row.Scan(&e.name, &e.ends.State, &e.ends.Finished, &e.succeeded)
	}, `SELECT d.name, f.state, f.finished_at, s.finished_at
	FROM definitions d
	CROSS JOIN LATERAL (SELECT r.state, r.finished_at FROM runs r
		WHERE r.job = d.name AND r.state IN ('succeeded', 'failed', 'cancelled') ORDER BY r.id DESC LIMIT 1) f
	LEFT JOIN LATERAL (SELECT r.finished_at FROM runs r
		WHERE r.job = d.name AND r.state = 'succeeded' ORDER BY r.id DESC LIMIT 1) s ON true
	WHERE d.deleted_at IS NULL AND f.finished_at IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	ends := make(map[string]store.JobEnds, len(rows))
	for _, e := range rows {
		e.ends.Finished = e.ends.Finished.UTC()
		if e.succeeded.Valid {
			e.ends.Succeeded = e.succeeded.Time.UTC()
		}
		ends[e.name] = e.ends
	}
	return ends, nil
}

// RunCount counts the runs in each of states.
func (s *Store) RunCount(ctx context.Context, states ...job.State) (map[job.State]int, error) {
	counts := make(map[job.State]int, len(states))
	if len(states) == 0 {
		return counts, nil
	}
	q, args := `SELECT state, COUNT(*) FROM runs WHERE state = ANY($1) GROUP BY state`, []any{stateStrings(states)}
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
// Queued rows are locked with FOR UPDATE SKIP LOCKED, so concurrent claimers take
// different runs without waiting. A claimer also takes a transaction-scoped advisory lock
// per job it claims for, without waiting: a job another claimer is claiming for is left
// to the next pass. Under that lock an exclusive run sees every committed claim of its
// job, so no two replicas start exclusive runs of one job at once. The lock key includes
// the schema, so Docket installations in different schemas of one database do not meet.
func (s *Store) RunClaim(ctx context.Context, claimer string, now time.Time, limit int) ([]job.Run, error) {
	var claimed []job.Run
	now = ts(now)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		claimed = nil
		candidates, err := queryAll(ctx, tx, scanRun, `SELECT `+runColumns+` FROM runs
			WHERE state = 'queued' AND not_before <= $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, now, claimScan)
		if err != nil {
			return err
		}
		locked := map[string]bool{}     // jobs whose advisory lock this transaction holds
		claimedFor := map[string]bool{} // jobs with a run claimed in this transaction
		for _, r := range candidates {
			if len(claimed) == limit {
				break
			}
			if !locked[r.Job] {
				var ok bool
				if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '/' || $1))`, r.Job).Scan(&ok); err != nil {
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
				if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE job = $1 AND state IN ('dispatched', 'pending', 'running'))`, r.Job).Scan(&busy); err != nil {
					return err
				}
				if busy {
					continue
				}
			}
			claimedFor[r.Job] = true
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = 'dispatched', claimed_by = $1 WHERE id = $2`, claimer, r.ID); err != nil {
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
		res, err := tx.ExecContext(ctx, `UPDATE runs SET state = $1, reason = $2, message = $3,
			exit_code = COALESCE($4::integer, exit_code),
			started_at = COALESCE(started_at, $5::timestamptz),
			finished_at = COALESCE($6::timestamptz, finished_at),
			claimed_by = CASE WHEN $1 = 'queued' THEN '' WHEN $7::text <> '' THEN $7::text ELSE claimed_by END
			WHERE id = $8 AND state = $9`,
			t.To, t.Reason, t.Message, exit, started, finished, t.ClaimedBy, t.RunID, t.From)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := getRun(ctx, tx, t.RunID); err != nil {
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
		out, err = getRun(ctx, tx, t.RunID)
		return err
	})
	return out, err
}

// RunRequestCancel records the first request to cancel an unfinished run.
func (s *Store) RunRequestCancel(ctx context.Context, id, by string) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if r.State.Terminal() {
			return fmt.Errorf("%w: run %s already %s", job.ErrConflict, id, r.State)
		}
		if r.CancelledBy == "" {
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET cancel_requested_by = $1 WHERE id = $2`, by, id); err != nil {
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
	res, err := s.db.ExecContext(ctx, `INSERT INTO events (run_id, time, state, reason, message)
		SELECT id, $2, $3, $4, $5 FROM runs WHERE id = $1`, ev.RunID, ts(ev.Time), ev.State, ev.Reason, ev.Message)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return job.ErrNotFound
	}
	return nil
}

// EventList returns a run's events, oldest first.
func (s *Store) EventList(ctx context.Context, runID string) ([]job.Event, error) {
	events, err := queryAll(ctx, s.db, scanEvent, `SELECT id, run_id, time, state, reason, message FROM events WHERE run_id = $1 ORDER BY id`, runID)
	if events == nil && err == nil {
		events = []job.Event{}
	}
	return events, err
}

func scanEvent(row scanner) (job.Event, error) {
	var ev job.Event
	if err := row.Scan(&ev.ID, &ev.RunID, &ev.Time, &ev.State, &ev.Reason, &ev.Message); err != nil {
		return ev, translate(err)
	}
	ev.Time = ev.Time.UTC()
	return ev, nil
}

// stateStrings is states as a text array parameter.
func stateStrings(states []job.State) []string {
	out := make([]string, len(states))
	for i, st := range states {
		out[i] = string(st)
	}
	return out
}

// RunReclaim hands an active run from a server that is gone to another.
func (s *Store) RunReclaim(ctx context.Context, id, from, to string, ev job.Event) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET claimed_by = $1
			WHERE id = $2 AND claimed_by = $3 AND state IN ('pending', 'running')`, to, id, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id)); err != nil {
				return err
			}
			return fmt.Errorf("%w: run %s is no longer active under %s", job.ErrConflict, id, from)
		}
		if err := insertEvent(ctx, tx, ev); err != nil {
			return err
		}
		out, err = scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
		return err
	})
	return out, err
}
