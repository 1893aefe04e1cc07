package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/sqlscan"
)

// RunPrune deletes old finished runs with their events and logs, keeping each job's newest.
func (s *Store) RunPrune(ctx context.Context, before time.Time, keep, limit int) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// A run is kept while fewer than keep finished runs of its job are newer.
		ids, err := queryAll(ctx, tx, sqlscan.String, `SELECT id FROM runs r
			WHERE finished_at IS NOT NULL AND finished_at < $1
			AND (SELECT COUNT(*) FROM (SELECT 1 FROM runs k
				WHERE k.job = r.job AND k.id > r.id AND k.finished_at IS NOT NULL LIMIT $2) AS newer) = $2
			ORDER BY finished_at, id LIMIT $3`, ts(before), keep, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		for _, q := range []string{
			`DELETE FROM events WHERE run_id = ANY($1)`,
			`DELETE FROM logs WHERE run_id = ANY($1)`,
			`DELETE FROM run_reports WHERE run_id = ANY($1)`,
			`DELETE FROM runs WHERE id = ANY($1) AND finished_at IS NOT NULL`,
		} {
			if _, err := tx.ExecContext(ctx, q, ids); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// LogPrune deletes the logs of runs that finished before `before`, in the order they finished.
func (s *Store) LogPrune(ctx context.Context, cursor string, before time.Time, limit int, ev job.Event) (string, int, error) {
	after, afterID := time.Time{}, ""
	if cursor != "" {
		at, id, ok := strings.Cut(cursor, "/")
		t, err := time.Parse(time.RFC3339Nano, at)
		if !ok || err != nil {
			return "", 0, fmt.Errorf("log prune cursor %q is not one this store made", cursor)
		}
		after, afterID = t, id
	}
	var (
		next = cursor
		n    int
	)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		type finished struct {
			id string
			at time.Time
		}
		runs, err := queryAll(ctx, tx, func(row scanner) (finished, error) {
			var f finished
			return f, row.Scan(&f.id, &f.at)
		}, `SELECT id, finished_at FROM runs
			WHERE finished_at IS NOT NULL AND (finished_at, id) > ($1, $2) AND finished_at < $3
			ORDER BY finished_at, id LIMIT $4`, after, afterID, ts(before), limit)
		if err != nil || len(runs) == 0 {
			return err
		}
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.id
		}
		// Each run that had a log says when and why it went.
		if _, err := tx.ExecContext(ctx, `WITH gone AS (DELETE FROM logs WHERE run_id = ANY($1) RETURNING run_id)
			INSERT INTO events (run_id, time, state, reason, message)
			SELECT r.id, $2, r.state, $3, $4 FROM runs r WHERE r.id IN (SELECT run_id FROM gone)`,
			ids, ts(ev.Time), ev.Reason, ev.Message); err != nil {
			return err
		}
		last := runs[len(runs)-1]
		next, n = last.at.UTC().Format(time.RFC3339Nano)+"/"+last.id, len(runs)
		return nil
	})
	return next, n, err
}
