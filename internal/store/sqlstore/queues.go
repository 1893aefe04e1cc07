package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
)

const queueColumns = `name, max_running, max_starts_per_second, priority, disabled, created_at, updated_at`

func scanQueue(row scanner) (job.Queue, error) {
	var q job.Queue
	err := row.Scan(&q.Name, &q.MaxRunning, &q.MaxStartsPerSecond, &q.Priority, &q.Disabled, timeCol{&q.CreatedAt}, timeCol{&q.UpdatedAt})
	return q, err
}

// QueuePut creates a queue or changes its limits, priority and state, and reports whether
// anything changed. A changed priority moves the queue's waiting and queued runs in the
// claim's order at once; changed limits and state hold from the next claim.
func (s *Store) QueuePut(ctx context.Context, q job.Queue, now time.Time) (job.Queue, bool, error) {
	var (
		out     job.Queue
		changed bool
	)
	err := s.tx(ctx, func(c conn) error {
		changed = false
		old, err := scanQueue(c.row(ctx, `SELECT `+queueColumns+` FROM queues WHERE name = ?`+s.d.LockRows(), q.Name))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			changed = true
			if _, err := c.exec(ctx, `INSERT INTO queues (`+queueColumns+`, tokens, tokens_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				q.Name, q.MaxRunning, q.MaxStartsPerSecond, q.Priority, q.Disabled, s.ts(now), s.ts(now), q.Burst(), s.ts(now)); err != nil {
				return err
			}
		case err != nil:
			return err
		case old.MaxRunning != q.MaxRunning || old.MaxStartsPerSecond != q.MaxStartsPerSecond || old.Priority != q.Priority || old.Disabled != q.Disabled:
			changed = true
			if _, err := c.exec(ctx, `UPDATE queues SET max_running = ?, max_starts_per_second = ?, priority = ?, disabled = ?, updated_at = ? WHERE name = ?`,
				q.MaxRunning, q.MaxStartsPerSecond, q.Priority, q.Disabled, s.ts(now), q.Name); err != nil {
				return err
			}
		}
		if changed && (errors.Is(err, sql.ErrNoRows) || old.Priority != q.Priority) {
			// Runs that are still to be claimed take the queue's new place in the order.
			if _, err := c.exec(ctx, `UPDATE runs SET claim_order = ? - priority
				WHERE queue = ? AND state IN ('waiting', 'queued')`, job.ClaimOrder(q.Priority, 0), q.Name); err != nil {
				return err
			}
		}
		out, err = scanQueue(c.row(ctx, `SELECT `+queueColumns+` FROM queues WHERE name = ?`, q.Name))
		return err
	})
	if err != nil {
		return job.Queue{}, false, fmt.Errorf("put queue %s: %w", q.Name, s.translate(err))
	}
	return out, changed, nil
}

// QueueGet returns one queue.
func (s *Store) QueueGet(ctx context.Context, name string) (job.Queue, error) {
	q, err := scanQueue(s.conn().row(ctx, `SELECT `+queueColumns+` FROM queues WHERE name = ?`, name))
	return q, s.translate(err)
}

// QueueList returns every queue, by name.
func (s *Store) QueueList(ctx context.Context) ([]job.Queue, error) {
	qs, err := all(ctx, s.conn(), scanQueue, `SELECT `+queueColumns+` FROM queues ORDER BY name`)
	return qs, s.translate(err)
}

// maxNamedBy caps how many of the jobs that name a queue, or of its unfinished runs, a
// refused delete lists.
const maxNamedBy = 20

// QueueDelete deletes a queue that no live definition names; otherwise it returns
// job.ErrConflict naming (some of) those definitions.
func (s *Store) QueueDelete(ctx context.Context, name string) error {
	return s.translate(s.tx(ctx, func(c conn) error {
		if _, err := scanQueue(c.row(ctx, `SELECT `+queueColumns+` FROM queues WHERE name = ?`+s.d.LockRows(), name)); err != nil {
			return err
		}
		jobs, err := all(ctx, c, scanString, `SELECT name FROM definitions WHERE deleted_at IS NULL AND queues LIKE ? ORDER BY name LIMIT ?`,
			"%,"+name+",%", maxNamedBy+1)
		if err != nil {
			return err
		}
		if len(jobs) > 0 {
			return fmt.Errorf("%w: queue %s is named by job %s; change or delete those first", job.ErrConflict, name, someOf(jobs))
		}
		// Runs made before their job moved to another queue still wait or run in this one:
		// without it they would start with no limits at all.
		list, states := in(job.UnfinishedStates)
		runs, err := all(ctx, c, scanString, `SELECT id FROM runs WHERE queue = ? AND queue <> '' AND state IN `+list+` ORDER BY id LIMIT ?`,
			append(append([]any{name}, states...), maxNamedBy+1)...)
		if err != nil {
			return err
		}
		if len(runs) > 0 {
			return fmt.Errorf("%w: queue %s still holds unfinished run %s; cancel them or let them end first", job.ErrConflict, name, someOf(runs))
		}
		_, err = c.exec(ctx, `DELETE FROM queues WHERE name = ?`, name)
		return err
	}))
}

// someOf lists names read with a limit of maxNamedBy+1: the first maxNamedBy, and " and
// more" when there were more.
func someOf(names []string) string {
	if len(names) > maxNamedBy {
		return strings.Join(names[:maxNamedBy], ", ") + " and more"
	}
	return strings.Join(names, ", ")
}

// QueueStats counts each queue's active and queued runs (of the named ones only, when
// names are given); the default queue's are under job.DefaultQueue.
func (s *Store) QueueStats(ctx context.Context, names ...string) (map[string]job.QueueStats, error) {
	filter, args := "", []any{}
	if len(names) > 0 {
		var list string
		list, args = in(names)
		filter = ` AND queue IN ` + list
	}
	type count struct {
		queue string
		state job.State
		n     int
	}
	rows, err := all(ctx, s.conn(), func(row scanner) (count, error) {
		var c count
		return c, row.Scan(&c.queue, &c.state, &c.n)
	}, `SELECT queue, state, COUNT(*) FROM runs WHERE state IN ('queued', 'dispatched', 'pending', 'running') AND kind = ''`+filter+` GROUP BY queue, state`, args...)
	if err != nil {
		return nil, s.translate(err)
	}
	out := map[string]job.QueueStats{}
	for _, c := range rows {
		st := out[c.queue]
		if c.state == job.StateQueued {
			st.Queued += c.n
		} else {
			st.Running += c.n
		}
		out[c.queue] = st
	}
	return out, nil
}

// QueueTokens returns how many starts a queue's rate allows at now (its token bucket,
// filled up to now); a queue without a rate has no bucket and returns its burst.
func (s *Store) QueueTokens(ctx context.Context, name string, now time.Time) (float64, error) {
	var (
		q      job.Queue
		tokens float64
		at     *time.Time
	)
	err := s.conn().row(ctx, `SELECT max_starts_per_second, tokens, tokens_at FROM queues WHERE name = ?`, name).
		Scan(&q.MaxStartsPerSecond, &tokens, nullTimeCol{&at})
	if err != nil {
		return 0, s.translate(err)
	}
	return refill(q, tokens, at, now), nil
}

// refill is a token bucket's content at now: what it held at `at`, plus the rate since,
// up to the burst.
func refill(q job.Queue, tokens float64, at *time.Time, now time.Time) float64 {
	if at == nil {
		return q.Burst()
	}
	if d := now.Sub(*at); d > 0 {
		tokens += d.Seconds() * q.MaxStartsPerSecond
	}
	return min(tokens, q.Burst())
}

// nameQueues records the queues a definition names (see QueueDelete), refusing a queue
// that does not exist. Each queue's row is locked where rows are, so a delete of it
// waits for this definition and then sees it.
func (s *Store) nameQueues(ctx context.Context, c conn, spec job.Spec) error {
	names := spec.Queues()
	for _, q := range names {
		if ok, err := s.lockQueue(ctx, c, q); err != nil {
			return err
		} else if !ok {
			return job.Invalid(spec.QueueField(q), "queue %q does not exist; create it first (docket queues set %s --max-running N)", q, q)
		}
	}
	list := ""
	if len(names) > 0 {
		list = "," + strings.Join(names, ",") + ","
	}
	_, err := c.exec(ctx, `UPDATE definitions SET queues = ? WHERE name = ?`, list, spec.Name)
	return err
}

// lockQueue reports whether the queue named exists, and where rows are locked locks its row
// until c's transaction ends, so that a delete of it waits and then sees what c wrote.
func (s *Store) lockQueue(ctx context.Context, c conn, name string) (bool, error) {
	var found string
	err := c.row(ctx, `SELECT name FROM queues WHERE name = ?`+s.d.LockRows(), name).Scan(&found)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// queuePriorities reads the priorities of the queues runs name (the default queue's is 0).
func (s *Store) queuePriorities(ctx context.Context, c conn, runs []job.Run) (map[string]int, error) {
	var names []string
	for _, r := range runs {
		if r.Queue != job.DefaultQueue && !slices.Contains(names, r.Queue) {
			names = append(names, r.Queue)
		}
	}
	out := map[string]int{}
	if len(names) == 0 {
		return out, nil
	}
	list, args := in(names)
	type qp struct {
		name     string
		priority int
	}
	rows, err := all(ctx, c, func(row scanner) (qp, error) {
		var p qp
		return p, row.Scan(&p.name, &p.priority)
	}, `SELECT name, priority FROM queues WHERE name IN `+list, args...)
	for _, p := range rows {
		out[p.name] = p.priority
	}
	return out, err
}
