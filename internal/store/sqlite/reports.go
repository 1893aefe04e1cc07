package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"docket.dev/docket/internal/job"
)

// ReportPut merges a run's report into the stored one, while the run is active.
func (s *Store) ReportPut(ctx context.Context, r job.Report) (job.Report, error) {
	var merged job.Report
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var state job.State
		if err := tx.QueryRowContext(ctx, `SELECT state FROM runs WHERE id = ?`, r.RunID).Scan(&state); err != nil {
			return err
		}
		if !state.Active() {
			return fmt.Errorf("%w: run %s is %s; only an active run reports", job.ErrConflict, r.RunID, state)
		}
		have, err := reportGet(ctx, tx, r.RunID)
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
		_, err = tx.ExecContext(ctx, `INSERT INTO run_reports (run_id, metrics, result, checkpoint, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (run_id) DO UPDATE SET metrics = excluded.metrics, result = excluded.result,
				checkpoint = excluded.checkpoint, updated_at = excluded.updated_at`,
			r.RunID, string(metrics), nullJSON(merged.Result), nullJSON(merged.Checkpoint), ts(merged.UpdatedAt))
		return err
	})
	return merged, translate(err)
}

// ReportGet returns what a run reported.
func (s *Store) ReportGet(ctx context.Context, runID string) (job.Report, error) {
	var exists bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?)`, runID).Scan(&exists); err != nil {
		return job.Report{}, translate(err)
	}
	if !exists {
		return job.Report{}, job.ErrNotFound
	}
	r, err := reportGet(ctx, s.db, runID)
	return r, translate(err)
}

// ReportLatest returns each job's last report with metrics.
func (s *Store) ReportLatest(ctx context.Context) (map[string]job.Report, error) {
	reports, err := queryAll(ctx, s.db, scanReport, `SELECT run_id, job, metrics, result, checkpoint, updated_at FROM (
			SELECT rr.run_id, r.job, rr.metrics, rr.result, rr.checkpoint, rr.updated_at,
				ROW_NUMBER() OVER (PARTITION BY r.job ORDER BY rr.updated_at DESC, rr.run_id DESC) AS n
			FROM run_reports rr JOIN runs r ON r.id = rr.run_id
			JOIN definitions d ON d.name = r.job AND d.deleted_at IS NULL
			WHERE rr.metrics <> '{}') AS latest
		WHERE n = 1`)
	if err != nil {
		return nil, translate(err)
	}
	out := make(map[string]job.Report, len(reports))
	for _, r := range reports {
		out[r.Job] = r
	}
	return out, nil
}

// SettingInit stores a setting unless it is set, and returns the stored value.
func (s *Store) SettingInit(ctx context.Context, name, value string) (string, error) {
	var stored string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&stored)
	})
	return stored, translate(err)
}

// reportGet reads a run's report row; none is an empty report.
func reportGet(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, runID string) (job.Report, error) {
	r, err := scanReport(q.QueryRowContext(ctx, `SELECT run_id, '', metrics, result, checkpoint, updated_at FROM run_reports WHERE run_id = ?`, runID))
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
		metrics, at        string
		result, checkpoint sql.NullString
	)
	if err := row.Scan(&r.RunID, &r.Job, &metrics, &result, &checkpoint, &at); err != nil {
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
	var err error
	r.UpdatedAt, err = parseTS(at)
	return r, err
}
