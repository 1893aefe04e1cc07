package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
)

// RunPrune deletes old finished runs with their events, logs and reports, keeping each
// job's newest.
func (s *Store) RunPrune(ctx context.Context, before time.Time, keep, limit int) (int, error) {
	var n int
	err := s.tx(ctx, func(c conn) error {
		// A run is kept while fewer than keep finished runs of its job are newer.
		ids, err := all(ctx, c, scanString, `SELECT id FROM runs r
			WHERE finished_at IS NOT NULL AND finished_at < ?
			AND (SELECT COUNT(*) FROM (SELECT 1 FROM runs k
				WHERE k.job = r.job AND k.id > r.id AND k.finished_at IS NOT NULL LIMIT ?) AS newer) = ?
			ORDER BY finished_at, id LIMIT ?`, s.ts(before), keep, keep, limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		list, args := in(ids)
		for _, q := range []string{
			`DELETE FROM events WHERE run_id IN ` + list,
			`DELETE FROM logs WHERE run_id IN ` + list,
			`DELETE FROM run_reports WHERE run_id IN ` + list,
			// An ended run's waiters were settled when it ended.
			`DELETE FROM run_waits WHERE waiter IN ` + list,
			`DELETE FROM run_waits WHERE needed IN ` + list,
			`DELETE FROM run_files WHERE run_id IN ` + list,
			`DELETE FROM runs WHERE finished_at IS NOT NULL AND id IN ` + list,
		} {
			if _, err := c.exec(ctx, q, args...); err != nil {
				return err
			}
		}
		n = len(ids)
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
