package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// RunSeries reads a job's newest runs that are no group's child, with their reported
// metrics: one walk of the runs_job_top index (job, id) for at most f.Limit runs, and one
// probe of run_reports' primary key for each. A window of time is a range of ids, since ids
// begin with their creation time.
func (s *Store) RunSeries(ctx context.Context, f store.SeriesFilter) ([]store.RunPoint, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	q, args := `SELECT `+runColumns+`, COALESCE((SELECT rr.metrics FROM run_reports rr WHERE rr.run_id = runs.id), '{}')
		FROM runs WHERE job = ? AND parent_id IS NULL`, []any{f.Job}
	if !f.Since.IsZero() {
		q, args = q+` AND id >= ?`, append(args, job.RunIDFloor(f.Since))
	}
	if !f.Until.IsZero() {
		q, args = q+` AND id < ?`, append(args, job.RunIDFloor(f.Until))
	}
	q, args = q+` ORDER BY id DESC LIMIT ?`, append(args, limit)
	points, err := all(ctx, s.conn(), scanPoint, q, args...)
	if err != nil {
		return nil, s.translate(err)
	}
	return points, nil
}

// scanPoint reads runColumns and the run's metrics.
func scanPoint(row scanner) (store.RunPoint, error) {
	var metrics string
	run, err := scanRun(withMore{row, []any{&metrics}})
	if err != nil {
		return store.RunPoint{}, err
	}
	p := store.RunPoint{Run: run}
	if err := json.Unmarshal([]byte(metrics), &p.Metrics); err != nil {
		return p, fmt.Errorf("decode stored metrics of run %s: %w", run.ID, err)
	}
	if len(p.Metrics) == 0 {
		p.Metrics = nil
	}
	return p, nil
}

// withMore scans a row whose columns go on past what its caller scans into more.
type withMore struct {
	row  scanner
	more []any
}

func (w withMore) Scan(dest ...any) error { return w.row.Scan(append(dest, w.more...)...) }
