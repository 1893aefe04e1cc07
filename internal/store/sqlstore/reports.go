package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"docket.dev/docket/internal/job"
)

// ReportPut merges a run's report into the stored one, while the run is active. The run's
// row is locked where rows are, so a report and the run's end take turns.
func (s *Store) ReportPut(ctx context.Context, r job.Report) (job.Report, error) {
	var merged job.Report
	err := s.tx(ctx, func(c conn) error {
		var state job.State
		if err := c.row(ctx, `SELECT state FROM runs WHERE id = ?`+s.d.LockRows(), r.RunID).Scan(&state); err != nil {
			return err
		}
		if !state.Active() {
			return fmt.Errorf("%w: run %s is %s; only an active run reports", job.ErrConflict, r.RunID, state)
		}
		have, err := reportGet(ctx, c, r.RunID)
		if err != nil {
			return err
		}
		if merged, err = have.Merge(r); err != nil {
			return err
		}
		metrics := []byte("{}")
		if len(merged.Metrics) > 0 {
			if metrics, err = json.Marshal(merged.Metrics); err != nil {
				return err
			}
		}
		_, err = c.exec(ctx, `INSERT INTO run_reports (run_id, metrics, result, checkpoint, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (run_id) DO UPDATE SET metrics = excluded.metrics, result = excluded.result,
				checkpoint = excluded.checkpoint, updated_at = excluded.updated_at`,
			r.RunID, string(metrics), nullJSON(merged.Result), nullJSON(merged.Checkpoint), s.ts(merged.UpdatedAt))
		return err
	})
	return merged, err
}

// ReportGet returns what a run reported.
func (s *Store) ReportGet(ctx context.Context, runID string) (job.Report, error) {
	var exists bool
	if err := s.conn().row(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?)`, runID).Scan(&exists); err != nil {
		return job.Report{}, s.translate(err)
	}
	if !exists {
		return job.Report{}, job.ErrNotFound
	}
	r, err := reportGet(ctx, s.conn(), runID)
	return r, s.translate(err)
}

// ReportLatest returns each job's last report with metrics.
func (s *Store) ReportLatest(ctx context.Context) (map[string]job.Report, error) {
	reports, err := all(ctx, s.conn(), scanReport, `SELECT run_id, job, metrics, result, checkpoint, updated_at FROM (
			SELECT rr.run_id, r.job, rr.metrics, rr.result, rr.checkpoint, rr.updated_at,
				ROW_NUMBER() OVER (PARTITION BY r.job ORDER BY rr.updated_at DESC, rr.run_id DESC) AS n
			FROM run_reports rr JOIN runs r ON r.id = rr.run_id
			JOIN definitions d ON d.name = r.job AND d.deleted_at IS NULL
			WHERE rr.metrics <> '{}') AS latest
		WHERE n = 1`)
	if err != nil {
		return nil, s.translate(err)
	}
	out := make(map[string]job.Report, len(reports))
	for _, r := range reports {
		out[r.Job] = r
	}
	return out, nil
}

// ReportStepResults returns the results of a workflow run's steps that succeeded.
func (s *Store) ReportStepResults(ctx context.Context, parent string) (map[string]json.RawMessage, error) {
	type stepResult struct {
		step   string
		result string
	}
	rows, err := all(ctx, s.conn(), func(sc scanner) (stepResult, error) {
		var r stepResult
		err := sc.Scan(&r.step, &r.result)
		return r, err
	}, `SELECT r.step, rr.result FROM runs r JOIN run_reports rr ON rr.run_id = r.id
		WHERE r.parent_id = ? AND r.state = 'succeeded' AND r.step IS NOT NULL AND rr.result IS NOT NULL`, parent)
	if err != nil {
		return nil, s.translate(err)
	}
	out := make(map[string]json.RawMessage, len(rows))
	for _, r := range rows {
		out[r.step] = json.RawMessage(r.result)
	}
	return out, nil
}

// reportGet reads a run's report row; none is an empty report.
func reportGet(ctx context.Context, c conn, runID string) (job.Report, error) {
	r, err := scanReport(c.row(ctx, `SELECT run_id, '', metrics, result, checkpoint, updated_at FROM run_reports WHERE run_id = ?`, runID))
	if errors.Is(err, sql.ErrNoRows) {
		return job.Report{RunID: runID}, nil
	}
	return r, err
}

// nullJSON stores an absent document as NULL.
func nullJSON(doc json.RawMessage) any {
	if len(doc) == 0 {
		return nil
	}
	return string(doc)
}

// scanReport reads run_id, job, metrics, result, checkpoint, updated_at.
func scanReport(row scanner) (job.Report, error) {
	var (
		r                  job.Report
		metrics            string
		result, checkpoint sql.NullString
	)
	if err := row.Scan(&r.RunID, &r.Job, &metrics, &result, &checkpoint, timeCol{&r.UpdatedAt}); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(metrics), &r.Metrics); err != nil {
		return r, fmt.Errorf("decode stored metrics of run %s: %w", r.RunID, err)
	}
	if result.Valid {
		r.Result = json.RawMessage(result.String)
	}
	if checkpoint.Valid {
		r.Checkpoint = json.RawMessage(checkpoint.String)
	}
	return r, nil
}
