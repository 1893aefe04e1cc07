package sqlite

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
		d                               job.Definition
		created, updated, through, spec string
	)
	if err := row.Scan(&d.Name, &d.Revision, &d.Suspended, &created, &updated, &through, &spec); err != nil {
		return d, translate(err)
	}
	if err := json.Unmarshal([]byte(spec), &d.Spec); err != nil {
		return d, fmt.Errorf("decode stored spec of %s: %w", d.Name, err)
	}
	var err error
	if d.CreatedAt, err = parseTS(created); err == nil {
		if d.UpdatedAt, err = parseTS(updated); err == nil {
			d.ScheduledThrough, err = parseTS(through)
		}
	}
	return d, err
}

// DefinitionPut stores spec as a new job or a new revision of one.
func (s *Store) DefinitionPut(ctx context.Context, spec job.Spec, now time.Time) (job.Definition, bool, error) {
	encoded, err := json.Marshal(spec)
	if err != nil {
		return job.Definition{}, false, err
	}
	var (
		def     job.Definition
		changed bool
	)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		var (
			rev            int
			deleted        sql.NullString
			curSpec, since string
		)
		err := tx.QueryRowContext(ctx, `SELECT d.revision, d.deleted_at, r.spec, d.scheduled_through`+defFrom+` WHERE d.name = ?`, spec.Name).
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO revisions (name, revision, spec, created_at) VALUES (?, ?, ?, ?)`,
			spec.Name, rev+1, string(encoded), ts(now)); err != nil {
			return err
		}
		switch {
		case !exists:
			_, err = tx.ExecContext(ctx, `INSERT INTO definitions (name, revision, created_at, updated_at, scheduled_through) VALUES (?, 1, ?, ?, ?)`,
				spec.Name, ts(now), ts(now), ts(now))
		case deleted.Valid:
			// Re-created after a delete: a fresh job that continues the revision count.
			_, err = tx.ExecContext(ctx, `UPDATE definitions SET revision = ?, suspended = 0, deleted_at = NULL,
				created_at = ?, updated_at = ?, scheduled_through = ? WHERE name = ?`,
				rev+1, ts(now), ts(now), ts(now), spec.Name)
		default:
			through := since
			if old.Schedule != spec.Schedule || old.Timezone != spec.Timezone {
				// A new calendar starts now; slots of the new schedule in the past
				// were never promised.
				through = ts(now)
			}
			_, err = tx.ExecContext(ctx, `UPDATE definitions SET revision = ?, updated_at = ?, scheduled_through = ? WHERE name = ?`,
				rev+1, ts(now), through, spec.Name)
		}
		return err
	})
	if err != nil {
		return job.Definition{}, false, fmt.Errorf("put job %s: %w", spec.Name, err)
	}
	def, err = s.DefinitionGet(ctx, spec.Name)
	return def, changed, err
}

// DefinitionGet returns a live job's current revision.
func (s *Store) DefinitionGet(ctx context.Context, name string) (job.Definition, error) {
	return scanDefinition(s.db.QueryRowContext(ctx, `SELECT `+defColumns+defFrom+` WHERE d.name = ? AND d.deleted_at IS NULL`, name))
}

// DefinitionRevision returns one revision of a job, deleted or not.
func (s *Store) DefinitionRevision(ctx context.Context, name string, revision int) (job.Definition, error) {
	return scanDefinition(s.db.QueryRowContext(ctx, `SELECT d.name, r.revision, d.suspended, d.created_at, d.updated_at, d.scheduled_through, r.spec
		FROM definitions d JOIN revisions r ON r.name = d.name WHERE d.name = ? AND r.revision = ?`, name, revision))
}

// DefinitionList returns the live jobs by name.
func (s *Store) DefinitionList(ctx context.Context) ([]job.Definition, error) {
	return queryAll(ctx, s.db, scanDefinition, `SELECT `+defColumns+defFrom+` WHERE d.deleted_at IS NULL ORDER BY d.name`)
}

// DefinitionDelete marks a job deleted.
func (s *Store) DefinitionDelete(ctx context.Context, name string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE definitions SET deleted_at = ?, updated_at = ? WHERE name = ? AND deleted_at IS NULL`, ts(now), ts(now), name)
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
	res, err := s.db.ExecContext(ctx, `UPDATE definitions SET suspended = ?, updated_at = ? WHERE name = ? AND deleted_at IS NULL`, suspended, ts(now), name)
	if err != nil {
		return job.Definition{}, translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return job.Definition{}, job.ErrNotFound
	}
	return s.DefinitionGet(ctx, name)
}
