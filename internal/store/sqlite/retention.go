package sqlite

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
			WHERE finished_at IS NOT NULL AND finished_at < ?
			AND (SELECT COUNT(*) FROM (SELECT 1 FROM runs k
				WHERE k.job = r.job AND k.id > r.id AND k.finished_at IS NOT NULL LIMIT ?)) = ?
			ORDER BY finished_at, id LIMIT ?`, ts(before), keep, keep, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		in, args := placeholders(len(ids)), make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		for _, q := range []string{
			`DELETE FROM events WHERE run_id IN (` + in + `)`,
			`DELETE FROM logs WHERE run_id IN (` + in + `)`,
			`DELETE FROM run_reports WHERE run_id IN (` + in + `)`,
			`DELETE FROM runs WHERE id IN (` + in + `)`,
		} {
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
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
	after, afterID := "", ""
	if cursor != "" {
		var ok bool
		if after, afterID, ok = strings.Cut(cursor, "/"); !ok {
			return "", 0, fmt.Errorf("log prune cursor %q is not one this store made", cursor)
		}
	}
	var (
		next string
		n    int
	)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		type finished struct {
			id, at string
			state  job.State
		}
		runs, err := queryAll(ctx, tx, func(row scanner) (finished, error) {
			var f finished
			return f, row.Scan(&f.id, &f.at, &f.state)
		}, `SELECT id, finished_at, state FROM runs
			WHERE finished_at IS NOT NULL AND (finished_at, id) > (?, ?) AND finished_at < ?
			ORDER BY finished_at, id LIMIT ?`, after, afterID, ts(before), limit)
		if err != nil || len(runs) == 0 {
			next = cursor
			return err
		}
		for _, r := range runs {
			res, err := tx.ExecContext(ctx, `DELETE FROM logs WHERE run_id = ?`, r.id)
			if err != nil {
				return err
			}
			if gone, _ := res.RowsAffected(); gone == 0 {
				continue
			}
			ev.RunID, ev.State = r.id, r.state
			if err := insertEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		last := runs[len(runs)-1]
		next, n = last.at+"/"+last.id, len(runs)
		return nil
	})
	return next, n, err
}
