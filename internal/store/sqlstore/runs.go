package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

const runColumns = `id, job, revision, state, trigger, scheduled_time, attempt, retry_of, env, idempotency_key,
	exclusive, not_before, created_at, started_at, finished_at, exit_code, reason, message, executor,
	claimed_by, cancel_requested_by,
	kind, parent_id, step, task_index, input, needs, always, resumed_from, reused_from,
	group_size, group_ended, group_succeeded, group_failed, parallelism, max_failed,
	queue, priority, params, overrides, waits_for`

// runParams is how many columns runColumns names.
const runParams = 41

func scanRun(row scanner) (job.Run, error) {
	var (
		r                                              job.Run
		retryOf, env, key, params, overrides, waitsFor sql.NullString
		parent, step, input, needs, resumed, reused    sql.NullString
		exit, task, maxFailed                          sql.NullInt64
		g                                              job.Group
	)
	err := row.Scan(&r.ID, &r.Job, &r.Revision, &r.State, &r.Trigger, nullTimeCol{&r.ScheduledTime}, &r.Attempt, &retryOf, &env, &key,
		&r.Exclusive, timeCol{&r.NotBefore}, timeCol{&r.CreatedAt}, nullTimeCol{&r.StartedAt}, nullTimeCol{&r.FinishedAt},
		&exit, &r.Reason, &r.Message, &r.Executor, &r.ClaimedBy, &r.CancelledBy,
		&r.Kind, &parent, &step, &task, &input, &needs, &r.Always, &resumed, &reused,
		&g.Size, &g.Ended, &g.Succeeded, &g.Failed, &g.Parallelism, &maxFailed,
		&r.Queue, &r.Priority, &params, &overrides, &waitsFor)
	if err != nil {
		return r, err
	}
	r.RetryOf, r.IdempotencyKey = retryOf.String, key.String
	r.Parent, r.Step, r.Input, r.ResumedFrom, r.ReusedFrom = parent.String, step.String, input.String, resumed.String, reused.String
	if task.Valid {
		i := int(task.Int64)
		r.TaskIndex = &i
	}
	if needs.Valid {
		if err := json.Unmarshal([]byte(needs.String), &r.Needs); err != nil {
			return r, fmt.Errorf("decode needs of run %s: %w", r.ID, err)
		}
	}
	if r.Kind != job.KindRun {
		if maxFailed.Valid {
			n := int(maxFailed.Int64)
			g.MaxFailed = &n
		}
		r.Group = &g
	}
	if env.Valid {
		if err := json.Unmarshal([]byte(env.String), &r.Env); err != nil {
			return r, fmt.Errorf("decode env of run %s: %w", r.ID, err)
		}
	}
	if params.Valid {
		if err := json.Unmarshal([]byte(params.String), &r.Params); err != nil {
			return r, fmt.Errorf("decode params of run %s: %w", r.ID, err)
		}
	}
	if waitsFor.Valid {
		if err := json.Unmarshal([]byte(waitsFor.String), &r.WaitsFor); err != nil {
			return r, fmt.Errorf("decode waits_for of run %s: %w", r.ID, err)
		}
	}
	if overrides.Valid {
		if err := json.Unmarshal([]byte(overrides.String), &r.Overrides); err != nil {
			return r, fmt.Errorf("decode overrides of run %s: %w", r.ID, err)
		}
	}
	if exit.Valid {
		code := int(exit.Int64)
		r.ExitCode = &code
	}
	return r, nil
}

// runArgs are r's values in runColumns order.
func (s *Store) runArgs(r job.Run) ([]any, error) {
	var env any
	if len(r.Env) > 0 {
		b, err := json.Marshal(r.Env)
		if err != nil {
			return nil, err
		}
		env = string(b)
	}
	var needs any
	if len(r.Needs) > 0 {
		b, err := json.Marshal(r.Needs)
		if err != nil {
			return nil, err
		}
		needs = string(b)
	}
	var params any
	if len(r.Params) > 0 {
		b, err := json.Marshal(r.Params)
		if err != nil {
			return nil, err
		}
		params = string(b)
	}
	var overrides any
	if r.Overrides != nil {
		b, err := json.Marshal(r.Overrides)
		if err != nil {
			return nil, err
		}
		overrides = string(b)
	}
	var waitsFor any
	if len(r.WaitsFor) > 0 {
		b, err := json.Marshal(r.WaitsFor)
		if err != nil {
			return nil, err
		}
		waitsFor = string(b)
	}
	var g job.Group
	if r.Group != nil {
		g = *r.Group
	}
	return []any{r.ID, r.Job, r.Revision, r.State, r.Trigger, s.tsPtr(r.ScheduledTime), r.Attempt, nullString(r.RetryOf), env,
		nullString(r.IdempotencyKey), r.Exclusive, s.ts(r.NotBefore), s.ts(r.CreatedAt), s.tsPtr(r.StartedAt), s.tsPtr(r.FinishedAt),
		nullInt(r.ExitCode), r.Reason, r.Message, r.Executor, r.ClaimedBy, r.CancelledBy,
		r.Kind, nullString(r.Parent), nullString(r.Step), nullInt(r.TaskIndex), nullString(r.Input), needs, r.Always,
		nullString(r.ResumedFrom), nullString(r.ReusedFrom),
		g.Size, g.Ended, g.Succeeded, g.Failed, g.Parallelism, nullInt(g.MaxFailed),
		r.Queue, r.Priority, params, overrides, waitsFor}, nil
}

// nullInt stores a nil number as NULL.
func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// asStored returns r with its times as a later read returns them, so a caller holds what
// is stored without reading it back.
func (s *Store) asStored(r job.Run) job.Run {
	r.NotBefore, r.CreatedAt = s.stored(r.NotBefore), s.stored(r.CreatedAt)
	for _, p := range []**time.Time{&r.ScheduledTime, &r.StartedAt, &r.FinishedAt} {
		if *p != nil {
			t := s.stored(**p)
			*p = &t
		}
	}
	return r
}

// insertRuns inserts runs in as few statements as the databases' parameter limits allow
// and returns the ids it inserted; onConflict is appended to each statement. Each run
// takes its place in the claim's order from its queue's priority and its own.
func (s *Store) insertRuns(ctx context.Context, c conn, runs []job.Run, onConflict string) (map[string]bool, error) {
	const perStatement = 32766 / (runParams + 1) // SQLite's limit on parameters (PostgreSQL's is 65,535)
	inserted := make(map[string]bool, len(runs))
	priorities, err := s.queuePriorities(ctx, c, runs)
	if err != nil {
		return nil, err
	}
	for chunk := range slices.Chunk(runs, perStatement) {
		var q strings.Builder
		q.WriteString(`INSERT INTO runs (` + runColumns + `, claim_order) VALUES `)
		args := make([]any, 0, len(chunk)*(runParams+1))
		for i, r := range chunk {
			ra, err := s.runArgs(r)
			if err != nil {
				return nil, err
			}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(rowParams(runParams + 1))
			args = append(append(args, ra...), job.ClaimOrder(priorities[r.Queue], r.Priority))
		}
		q.WriteString(" " + onConflict + " RETURNING id")
		ids, err := all(ctx, c, scanString, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			inserted[id] = true
		}
	}
	return inserted, s.insertWaits(ctx, c, runs, inserted)
}

// insertRun inserts one run; it reports false when onConflict kept it out.
func (s *Store) insertRun(ctx context.Context, c conn, r job.Run, onConflict string) (bool, error) {
	inserted, err := s.insertRuns(ctx, c, []job.Run{r}, onConflict)
	return inserted[r.ID], err
}

// rowParams returns "(?, ?, ...)" for n values.
func rowParams(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// getRun reads one run.
func getRun(ctx context.Context, c conn, id string) (job.Run, error) {
	return scanRun(c.row(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
}

// onIdempotencyKey keeps a second run with a job's idempotency key out.
const onIdempotencyKey = `ON CONFLICT (job, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`

// RunCreate stores a run, or returns the earlier run with the same idempotency key.
func (s *Store) RunCreate(ctx context.Context, run job.Run, ev job.Event) (job.Run, bool, error) {
	return s.RunCreateGroup(ctx, run, nil, []job.Event{ev})
}

// RunCreateGroup stores a run with its children and their first events, or returns the
// earlier run with the same idempotency key.
func (s *Store) RunCreateGroup(ctx context.Context, run job.Run, children []job.Run, events []job.Event) (job.Run, bool, error) {
	var (
		stored  job.Run
		created bool
	)
	alone := len(children) == 0 && len(run.WaitsFor) == 0 && run.Queue == job.DefaultQueue && len(events) == 1 && events[0].RunID == run.ID
	if alone && s.d.InsertWith() {
		stored, created, err := s.createAlone(ctx, run, events[0])
		if err != nil {
			return job.Run{}, false, fmt.Errorf("create run of %s: %w", run.Job, err)
		}
		return stored, created, nil
	}
	err := s.tx(ctx, func(c conn) error {
		inserted, err := s.insertRun(ctx, c, run, onIdempotencyKey)
		if err != nil {
			return err
		}
		if !inserted {
			// The key was used: answer with the run it made.
			stored, err = keyedRun(ctx, c, run)
			return err
		}
		if _, err := s.insertRuns(ctx, c, children, ""); err != nil {
			return err
		}
		stored, created = s.asStored(run), true
		if err := s.insertEvents(ctx, c, events); err != nil {
			return err
		}
		// What they wait for may have ended already.
		if err := s.resolveNew(ctx, c, append([]job.Run{run}, children...), run.CreatedAt); err != nil {
			return err
		}
		if len(run.WaitsFor) > 0 {
			stored, err = getRun(ctx, c, run.ID)
		}
		return err
	})
	if err != nil {
		return job.Run{}, false, fmt.Errorf("create run of %s: %w", run.Job, err)
	}
	return stored, created, nil
}

// createAlone is RunCreate of a run that needs nothing read or written beside it (no
// children, nothing it waits for, the default queue, one event), where a statement's WITH
// may insert (Dialect.InsertWith): the run, unless its idempotency key was used, and its
// event go in one statement, atomic on its own. A transaction around two statements would
// be two more round trips to the database for every submission.
func (s *Store) createAlone(ctx context.Context, run job.Run, ev job.Event) (job.Run, bool, error) {
	args, err := s.runArgs(run)
	if err != nil {
		return job.Run{}, false, err
	}
	// The default queue's priority is 0 (queuePriorities reads none for it).
	args = append(args, job.ClaimOrder(0, run.Priority), s.ts(ev.Time), ev.State, ev.Reason, ev.Message)
	c := s.conn()
	inserted, err := all(ctx, c, scanString, `WITH r AS (INSERT INTO runs (`+runColumns+`, claim_order) VALUES `+rowParams(runParams+1)+`
		`+onIdempotencyKey+` RETURNING id)
		INSERT INTO events (`+eventColumns+`) SELECT id, ?, ?, ?, ? FROM r RETURNING run_id`, args...)
	if err != nil {
		return job.Run{}, false, s.translate(err)
	}
	if len(inserted) == 1 {
		return s.asStored(run), true, nil
	}
	// The key was used: answer with the run it made.
	stored, err := keyedRun(ctx, c, run)
	return stored, false, s.translate(err)
}

// keyedRun reads the run that run's job made under run's idempotency key.
func keyedRun(ctx context.Context, c conn, run job.Run) (job.Run, error) {
	return scanRun(c.row(ctx, `SELECT `+runColumns+` FROM runs WHERE job = ? AND idempotency_key = ?`, run.Job, run.IdempotencyKey))
}

// RunGet returns one run.
func (s *Store) RunGet(ctx context.Context, id string) (job.Run, error) {
	r, err := getRun(ctx, s.conn(), id)
	return r, s.translate(err)
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
		list, states := in(f.States)
		q, args = q+` AND state IN `+list, append(args, states...)
	}
	if f.Parent != "" {
		q, args = q+` AND parent_id = ?`, append(args, f.Parent)
	}
	if f.TopLevel {
		q += ` AND parent_id IS NULL`
	}
	if f.Queue != nil {
		q, args = q+` AND queue = ?`, append(args, *f.Queue)
	}
	if f.Cursor != "" {
		q, args = q+` AND id < ?`, append(args, f.Cursor)
	}
	q, args = q+` ORDER BY id DESC LIMIT ?`, append(args, limit+1)
	runs, err := all(ctx, s.conn(), scanRun, q, args...)
	if err != nil {
		return nil, "", s.translate(err)
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
		var list string
		list, args = in(states)
		filter = ` AND r.state IN ` + list
	}
	runs, err := all(ctx, s.conn(), scanRun, `SELECT `+runColumns+` FROM runs WHERE id IN (
		SELECT (SELECT r.id FROM runs r WHERE r.job = d.name AND r.parent_id IS NULL`+filter+` ORDER BY r.id DESC LIMIT 1)
		FROM definitions d WHERE d.deleted_at IS NULL)`, args...)
	if err != nil {
		return nil, s.translate(err)
	}
	latest := make(map[string]job.Run, len(runs))
	for _, r := range runs {
		latest[r.Job] = r
	}
	return latest, nil
}

// RunEnds reads when each job's runs last ended: per job, a walk of the runs' (job, state,
// id) index for its newest finished run and one for its newest success, reading two
// columns of one row each, never whole runs.
func (s *Store) RunEnds(ctx context.Context) (map[string]store.JobEnds, error) {
	type end struct {
		name      string
		state     sql.NullString
		finished  *time.Time
		succeeded *time.Time
	}
	const newestFinished = `FROM runs r WHERE r.job = d.name AND r.parent_id IS NULL AND r.state IN ('succeeded', 'failed', 'cancelled') ORDER BY r.id DESC LIMIT 1`
	rows, err := all(ctx, s.conn(), func(row scanner) (end, error) {
		var e end
		return e, row.Scan(&e.name, &e.state, nullTimeCol{&e.finished}, nullTimeCol{&e.succeeded})
	}, `SELECT d.name,
		(SELECT r.state `+newestFinished+`),
		(SELECT r.finished_at `+newestFinished+`),
		(SELECT r.finished_at FROM runs r WHERE r.job = d.name AND r.parent_id IS NULL AND r.state = 'succeeded' ORDER BY r.id DESC LIMIT 1)
	FROM definitions d WHERE d.deleted_at IS NULL`)
	if err != nil {
		return nil, s.translate(err)
	}
	ends := make(map[string]store.JobEnds, len(rows))
	for _, e := range rows {
		if !e.state.Valid || e.finished == nil {
			continue
		}
		je := store.JobEnds{State: job.State(e.state.String), Finished: *e.finished}
		if e.succeeded != nil {
			je.Succeeded = *e.succeeded
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
	list, args := in(states)
	return counts, s.countStates(ctx, counts, `SELECT state, COUNT(*) FROM runs WHERE state IN `+list+` GROUP BY state`, args...)
}
