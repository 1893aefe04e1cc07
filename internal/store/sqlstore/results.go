package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// TaskResults reads a page of an array's tasks, each task's newest attempt (no later
// attempt of the same index exists) with its report's result.
func (s *Store) TaskResults(ctx context.Context, parent string, after, limit int) ([]store.TaskResult, error) {
	cols := "r." + strings.ReplaceAll(strings.Join(strings.Fields(runColumns), " "), ", ", ", r.")
	out, err := all(ctx, s.conn(), func(row scanner) (store.TaskResult, error) {
		var (
			tr     store.TaskResult
			result sql.NullString
		)
		scan := multiScan{row: row, extra: []any{&result}}
		run, err := scanRun(&scan)
		if err != nil {
			return tr, err
		}
		tr.Run = run
		if result.Valid {
			tr.Result = json.RawMessage(result.String)
		}
		return tr, nil
	}, `SELECT `+cols+`, rr.result FROM runs r LEFT JOIN run_reports rr ON rr.run_id = r.id
		WHERE r.parent_id = ? AND r.task_index > ?
		AND NOT EXISTS (SELECT 1 FROM runs n WHERE n.parent_id = r.parent_id AND n.task_index = r.task_index AND n.attempt > r.attempt)
		ORDER BY r.task_index LIMIT ?`, parent, after, limit)
	return out, s.translate(err)
}

// GroupStates counts a group's children by state.
func (s *Store) GroupStates(ctx context.Context, parent string) (map[job.State]int, error) {
	out := map[job.State]int{}
	return out, s.countStates(ctx, out, `SELECT state, COUNT(*) FROM runs WHERE parent_id = ? GROUP BY state`, parent)
}

// countStates adds to out the counts a query of (state, count) rows answers.
func (s *Store) countStates(ctx context.Context, out map[job.State]int, query string, args ...any) error {
	type count struct {
		state job.State
		n     int
	}
	counts, err := all(ctx, s.conn(), func(row scanner) (count, error) {
		var c count
		return c, row.Scan(&c.state, &c.n)
	}, query, args...)
	if err != nil {
		return s.translate(err)
	}
	for _, c := range counts {
		out[c.state] = c.n
	}
	return nil
}

// multiScan hands scanRun's destinations and extra ones after them to one row's Scan, so
// a run and the columns joined to it are read together.
type multiScan struct {
	row   scanner
	extra []any
}

func (m *multiScan) Scan(dest ...any) error { return m.row.Scan(append(dest, m.extra...)...) }
