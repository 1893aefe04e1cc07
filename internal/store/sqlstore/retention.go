package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
)

// RunPrune deletes old finished runs with their events, logs and reports, keeping each
// job's newest. A workflow or array run goes whole, with its steps' or tasks' runs: those
// count neither toward keep nor toward limit, and are never deleted alone.
func (s *Store) RunPrune(ctx context.Context, before time.Time, keep, limit int) (int, error) {
	var n int
	err := s.tx(ctx, func(c conn) error {
		// A run is kept while fewer than keep finished runs of its job are newer.
		ids, err := all(ctx, c, scanString, `SELECT id FROM runs r
			WHERE finished_at IS NOT NULL AND finished_at < ? AND parent_id IS NULL
			AND (SELECT COUNT(*) FROM (SELECT 1 FROM runs k
				WHERE k.job = r.job AND k.id > r.id AND k.finished_at IS NOT NULL AND k.parent_id IS NULL LIMIT ?) AS newer) = ?
			ORDER BY finished_at, id LIMIT ?`, s.ts(before), keep, keep, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		list, args := in(ids)
		// The runs, and their children: "id IN list OR id IN (children)".
		of := func(col string) (string, []any) {
			return `(` + col + ` IN ` + list + ` OR ` + col + ` IN (SELECT id FROM runs WHERE parent_id IN ` + list + `))`,
				append(append([]any{}, args...), args...)
		}
		for _, t := range []struct{ table, col string }{
			{"events", "run_id"}, {"logs", "run_id"}, {"run_reports", "run_id"},
			// An ended run's waiters were settled when it ended.
			{"run_waits", "waiter"}, {"run_waits", "needed"},
			{"run_files", "run_id"},
		} {
			cond, a := of(t.col)
			if _, err := c.exec(ctx, `DELETE FROM `+t.table+` WHERE `+cond, a...); err != nil {
				return err
			}
		}
		children, err := c.execN(ctx, `DELETE FROM runs WHERE parent_id IN `+list, args...)
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM runs WHERE finished_at IS NOT NULL AND id IN `+list, args...); err != nil {
			return err
		}
		n = len(ids) + int(children)
		return nil
	})
	return n, err
}

// LogPrune deletes the logs of runs that finished before `before`, in the order they
// finished. The cursor is the last run's finish time and id.
func (s *Store) LogPrune(ctx context.Context, cursor string, before time.Time, limit int, ev job.Event) (string, int, error) {
	var after time.Time
	afterID := ""
	if cursor != "" {
		at, id, ok := strings.Cut(cursor, "/")
		t, err := time.Parse(tsLayout, at)
		if !ok || err != nil {
			return "", 0, fmt.Errorf("log prune cursor %q is not one this store made", cursor)
		}
		after, afterID = t, id
	}
	next, n := cursor, 0
	err := s.tx(ctx, func(c conn) error {
		type finished struct {
			id    string
			at    time.Time
			state job.State
		}
		runs, err := all(ctx, c, func(row scanner) (finished, error) {
			var f finished
			return f, row.Scan(&f.id, timeCol{&f.at}, &f.state)
		}, `SELECT id, finished_at, state FROM runs
			WHERE finished_at IS NOT NULL AND (finished_at, id) > (?, ?) AND finished_at < ?
			ORDER BY finished_at, id LIMIT ?`, s.ts(after), afterID, s.ts(before), limit)
		if err != nil || len(runs) == 0 {
			return err
		}
		ids := make([]string, len(runs))
		for i, r := range runs {
			ids[i] = r.id
		}
		list, args := in(ids)
		logged, err := all(ctx, c, scanString, `SELECT DISTINCT run_id FROM logs WHERE run_id IN `+list, args...)
		if err != nil {
			return err
		}
		if len(logged) > 0 {
			had := map[string]bool{}
			for _, id := range logged {
				had[id] = true
			}
			gone, args := in(logged)
			if _, err := c.exec(ctx, `DELETE FROM logs WHERE run_id IN `+gone, args...); err != nil {
				return err
			}
			// Each run that had a log says when and why it went.
			var events []job.Event
			for _, r := range runs {
				if had[r.id] {
					e := ev
					e.RunID, e.State = r.id, r.state
					events = append(events, e)
				}
			}
			if err := s.insertEvents(ctx, c, events); err != nil {
				return err
			}
		}
		last := runs[len(runs)-1]
		next, n = FormatTime(last.at)+"/"+last.id, len(runs)
		return nil
	})
	return next, n, err
}
