package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"docket.dev/docket/internal/job"
)

const defColumns = `d.name, d.revision, d.suspended, d.created_at, d.updated_at, d.scheduled_through, r.spec`

const defFrom = ` FROM definitions d JOIN revisions r ON r.name = d.name AND r.revision = d.revision`

func scanDefinition(row scanner) (job.Definition, error) {
	var (
		d    job.Definition
		spec string
	)
	if err := row.Scan(&d.Name, &d.Revision, &d.Suspended, &d.CreatedAt, &d.UpdatedAt, &d.ScheduledThrough, &spec); err != nil {
		return d, translate(err)
	}
	d.CreatedAt, d.UpdatedAt, d.ScheduledThrough = d.CreatedAt.UTC(), d.UpdatedAt.UTC(), d.ScheduledThrough.UTC()
	if err := json.Unmarshal([]byte(spec), &d.Spec); err != nil {
		return d, fmt.Errorf("decode stored spec of %s: %w", d.Name, err)
	}
	return d, nil
}

// DefinitionPut stores spec as a new job or a new revision of one.
func (s *Store) DefinitionPut(ctx context.Context, spec job.Spec, now time.Time) (job.Definition, bool, error) {
	encoded, err := json.Marshal(spec)
	if err != nil {
		return job.Definition{}, false, err
	}
	now = ts(now)
	changed := false
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var (
			rev     int
			deleted sql.NullTime
			curSpec string
			since   time.Time
		)
		// The row lock makes concurrent puts of one job take turns.
		err := tx.QueryRowContext(ctx, `SELECT d.revision, d.deleted_at, r.spec, d.scheduled_through`+defFrom+` WHERE d.name = $1 FOR UPDATE OF d`, spec.Name).
			Scan(&rev, &deleted, &curSpec, &since)
		exists := err == nil
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		if exists && !deleted.Valid && curSpec == string(encoded) {
			return nil
		}
		changed = true
		var old job.Spec
		if exists {
			if err := json.Unmarshal([]byte(curSpec), &old); err != nil {
				return fmt.Errorf("decode stored spec of %s: %w", spec.Name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO revisions (name, revision, spec, created_at) VALUES ($1, $2, $3, $4)`,
			spec.Name, rev+1, string(encoded), now); err != nil {
			return err
		}
		switch {
		case !exists:
			_, err = tx.ExecContext(ctx, `INSERT INTO definitions (name, revision, created_at, updated_at, scheduled_through) VALUES ($1, 1, $2, $2, $2)`,
				spec.Name, now)
		case deleted.Valid:
			// Re-created after a delete: a fresh job that continues the revision count.
			_, err = tx.ExecContext(ctx, `UPDATE definitions SET revision = $1, suspended = FALSE, deleted_at = NULL,
				created_at = $2, updated_at = $2, scheduled_through = $2 WHERE name = $3`,
				rev+1, now, spec.Name)
		default:
			through := since
			if old.Schedule != spec.Schedule || old.Timezone != spec.Timezone {
				// A new calendar starts now; slots of the new schedule in the past
				// were never promised.
				through = now
			}
			_, err = tx.ExecContext(ctx, `UPDATE definitions SET revision = $1, updated_at = $2, scheduled_through = $3 WHERE name = $4`,
				rev+1, now, through, spec.Name)
		}
		return err
	})
	if err != nil {
		return job.Definition{}, false, fmt.Errorf("put job %s: %w", spec.Name, err)
	}
	def, err := s.DefinitionGet(ctx, spec.Name)
	return def, changed, err
}

// DefinitionGet returns a live job's current revision.
func (s *Store) DefinitionGet(ctx context.Context, name string) (job.Definition, error) {
	return scanDefinition(s.db.QueryRowContext(ctx, `SELECT `+defColumns+defFrom+` WHERE d.name = $1 AND d.deleted_at IS NULL`, name))
}

// DefinitionRevision returns one revision of a job, deleted or not.
func (s *Store) DefinitionRevision(ctx context.Context, name string, revision int) (job.Definition, error) {
	return scanDefinition(s.db.QueryRowContext(ctx, `SELECT d.name, r.revision, d.suspended, d.created_at, d.updated_at, d.scheduled_through, r.spec
		FROM definitions d JOIN revisions r ON r.name = d.name WHERE d.name = $1 AND r.revision = $2`, name, revision))
}

// DefinitionList returns the live jobs by name.
func (s *Store) DefinitionList(ctx context.Context) ([]job.Definition, error) {
	return queryAll(ctx, s.db, scanDefinition, `SELECT `+defColumns+defFrom+` WHERE d.deleted_at IS NULL ORDER BY d.name`)
}

// DefinitionDelete marks a job deleted.
func (s *Store) DefinitionDelete(ctx context.Context, name string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE definitions SET deleted_at = $1, updated_at = $1 WHERE name = $2 AND deleted_at IS NULL`, ts(now), name)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return job.ErrNotFound
	}
	return nil
}

// DefinitionSuspend sets or clears a job's suspended flag.
func (s *Store) DefinitionSuspend(ctx context.Context, name string, suspended bool, now time.Time) (job.Definition, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE definitions SET suspended = $1, updated_at = $2 WHERE name = $3 AND deleted_at IS NULL`, suspended, ts(now), name)
	if err != nil {
		return job.Definition{}, translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return job.Definition{}, job.ErrNotFound
	}
	return s.DefinitionGet(ctx, name)
}

// LogAppend adds a chunk at the end of a run's log.
func (s *Store) LogAppend(ctx context.Context, runID string, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO logs (run_id, start, data)
		SELECT $1, COALESCE(MAX(start + octet_length(data)), 0), $2 FROM logs WHERE run_id = $1`, runID, data)
	return translate(err)
}

// LogSize returns how many bytes of a run's log are stored.
func (s *Store) LogSize(ctx context.Context, runID string) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(start + octet_length(data)), 0) FROM logs WHERE run_id = $1`, runID).Scan(&n)
	return n, translate(err)
}

// LogRead returns up to limit bytes of a run's log from offset.
func (s *Store) LogRead(ctx context.Context, runID string, offset int64, limit int) ([]byte, error) {
	type chunk struct {
		start int64
		data  []byte
	}
	chunks, err := queryAll(ctx, s.db, func(row scanner) (chunk, error) {
		var c chunk
		return c, row.Scan(&c.start, &c.data)
	}, `SELECT start, data FROM logs WHERE run_id = $1 AND start + octet_length(data) > $2 AND start < $3 ORDER BY start`,
		runID, offset, offset+int64(limit))
	if err != nil {
		return nil, err
	}
	out := []byte{}
	for _, c := range chunks {
		if c.start < offset {
			c.data = c.data[offset-c.start:]
		}
		out = append(out, c.data...)
	}
	return out[:min(len(out), limit)], nil
}
