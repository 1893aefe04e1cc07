package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"docket.dev/docket/internal/job"
)

const defColumns = `d.name, d.revision, d.suspended, d.created_at, d.updated_at, d.scheduled_through, d.next_due, r.spec`

const defFrom = ` FROM definitions d JOIN revisions r ON r.name = d.name AND r.revision = d.revision`

func scanDefinition(row scanner) (job.Definition, error) {
	var (
		d    job.Definition
		spec string
	)
	if err := row.Scan(&d.Name, &d.Revision, &d.Suspended, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, timeCol{&d.ScheduledThrough}, nullTimeCol{&d.NextDue}, &spec); err != nil {
		return d, err
	}
	if err := json.Unmarshal([]byte(spec), &d.Spec); err != nil {
		return d, fmt.Errorf("decode stored spec of %s: %w", d.Name, err)
	}
	return d, nil
}

// DefinitionPut stores spec as a new job or a new revision of one. A new calendar (a new
// job, a job created again, a changed schedule or zone) starts its cursor now: slots of it
// in the past were never promised; and it is due at once, for the scheduler to work out
// when it fires (a job without a schedule is never due).
func (s *Store) DefinitionPut(ctx context.Context, spec job.Spec, now time.Time) (job.Definition, bool, error) {
	encoded, err := json.Marshal(spec)
	if err != nil {
		return job.Definition{}, false, err
	}
	changed := false
	err = s.tx(ctx, func(c conn) error {
		var (
			rev     int
			deleted *time.Time
		)
		// Where rows are locked, concurrent puts of one job take turns on its row.
		err := c.row(ctx, `SELECT revision, deleted_at FROM definitions WHERE name = ?`+s.d.LockRows(), spec.Name).
			Scan(&rev, nullTimeCol{&deleted})
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var old job.Spec
		if exists {
			var curSpec string
			if err := c.row(ctx, `SELECT spec FROM revisions WHERE name = ? AND revision = ?`, spec.Name, rev).Scan(&curSpec); err != nil {
				return err
			}
			if deleted == nil && curSpec == string(encoded) {
				return nil
			}
			if err := json.Unmarshal([]byte(curSpec), &old); err != nil {
				return fmt.Errorf("decode stored spec of %s: %w", spec.Name, err)
			}
		}
		changed = true
		if _, err := c.exec(ctx, `INSERT INTO revisions (name, revision, spec, created_at) VALUES (?, ?, ?, ?)`,
			spec.Name, rev+1, string(encoded), s.ts(now)); err != nil {
			return err
		}
		var due any // never
		if spec.Schedule != "" {
			due = s.ts(time.Time{}) // at once: the scheduler works out the next slot
		}
		switch {
		case !exists:
			_, err = c.exec(ctx, `INSERT INTO definitions (name, revision, created_at, updated_at, scheduled_through, next_due) VALUES (?, 1, ?, ?, ?, ?)`,
				spec.Name, s.ts(now), s.ts(now), s.ts(now), due)
		case deleted != nil:
			// Re-created after a delete: a fresh job that continues the revision count.
			_, err = c.exec(ctx, `UPDATE definitions SET revision = ?, suspended = ?, deleted_at = NULL,
				created_at = ?, updated_at = ?, scheduled_through = ?, next_due = ? WHERE name = ?`,
				rev+1, false, s.ts(now), s.ts(now), s.ts(now), due, spec.Name)
		case old.Schedule != spec.Schedule || old.Timezone != spec.Timezone:
			_, err = c.exec(ctx, `UPDATE definitions SET revision = ?, updated_at = ?, scheduled_through = ?, next_due = ? WHERE name = ?`,
				rev+1, s.ts(now), s.ts(now), due, spec.Name)
		default:
			_, err = c.exec(ctx, `UPDATE definitions SET revision = ?, updated_at = ? WHERE name = ?`, rev+1, s.ts(now), spec.Name)
		}
		if err != nil {
			return err
		}
		if err := s.putTriggers(ctx, c, spec, now); err != nil {
			return err
		}
		return s.nameQueues(ctx, c, spec)
	})
	if err != nil {
		return job.Definition{}, false, fmt.Errorf("put job %s: %w", spec.Name, err)
	}
	def, err := s.DefinitionGet(ctx, spec.Name)
	return def, changed, err
}

// DefinitionGet returns a live job's current revision.
func (s *Store) DefinitionGet(ctx context.Context, name string) (job.Definition, error) {
	d, err := scanDefinition(s.conn().row(ctx, `SELECT `+defColumns+defFrom+` WHERE d.name = ? AND d.deleted_at IS NULL`, name))
	return d, s.translate(err)
}

// DefinitionRevision returns one revision of a job, deleted or not.
func (s *Store) DefinitionRevision(ctx context.Context, name string, revision int) (job.Definition, error) {
	d, err := scanDefinition(s.conn().row(ctx, `SELECT d.name, r.revision, d.suspended, d.created_at, d.updated_at, d.scheduled_through, d.next_due, r.spec
		FROM definitions d JOIN revisions r ON r.name = d.name WHERE d.name = ? AND r.revision = ?`, name, revision))
	return d, s.translate(err)
}

// DefinitionList returns the live jobs by name.
func (s *Store) DefinitionList(ctx context.Context) ([]job.Definition, error) {
	defs, err := all(ctx, s.conn(), scanDefinition, `SELECT `+defColumns+defFrom+` WHERE d.deleted_at IS NULL ORDER BY d.name`)
	return defs, s.translate(err)
}

// DefinitionDelete marks a job deleted, unless a live job runs after it: job.ErrConflict
// naming those.
func (s *Store) DefinitionDelete(ctx context.Context, name string, now time.Time) error {
	return s.translate(s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, `UPDATE definitions SET deleted_at = ?, updated_at = ? WHERE name = ? AND deleted_at IS NULL`, s.ts(now), s.ts(now), name)
		if err != nil {
			return err
		}
		if n == 0 {
			return job.ErrNotFound
		}
		// Applies that add triggers take turns with this (the job's row, then this lock,
		// as an apply takes them): none comes to run after the job unseen.
		if err := s.d.LockQueue(ctx, c.q, triggersLock); err != nil {
			return err
		}
		downstream, err := all(ctx, c, scanString, `SELECT t.job FROM triggers t JOIN definitions d ON d.name = t.job AND d.deleted_at IS NULL
			WHERE t.upstream = ? ORDER BY t.job LIMIT ?`, name, maxNamedBy+1)
		if err != nil {
			return err
		}
		switch {
		case len(downstream) == 1:
			return fmt.Errorf("%w: job %s runs after %s (after:), and would never run again; change or delete it first", job.ErrConflict, downstream[0], name)
		case len(downstream) > 1:
			return fmt.Errorf("%w: jobs %s run after %s (after:), and would never run again; change or delete them first", job.ErrConflict, someOf(downstream), name)
		}
		return nil
	}))
}

// DefinitionSuspend sets or clears a job's suspended flag.
func (s *Store) DefinitionSuspend(ctx context.Context, name string, suspended bool, now time.Time) (job.Definition, error) {
	n, err := s.conn().execN(ctx, `UPDATE definitions SET suspended = ?, updated_at = ? WHERE name = ? AND deleted_at IS NULL`, suspended, s.ts(now), name)
	if err != nil {
		return job.Definition{}, s.translate(err)
	}
	if n == 0 {
		return job.Definition{}, job.ErrNotFound
	}
	return s.DefinitionGet(ctx, name)
}

// DefinitionDue returns up to limit live jobs whose NextDue is at or before now, in the
// order they came due, after the job named after (due at afterDue); "" starts at the
// first.
func (s *Store) DefinitionDue(ctx context.Context, now, afterDue time.Time, after string, limit int) ([]job.Definition, error) {
	defs, err := all(ctx, s.conn(), scanDefinition, `SELECT `+defColumns+defFrom+`
		WHERE d.deleted_at IS NULL AND d.next_due IS NOT NULL AND d.next_due <= ? AND (d.next_due, d.name) > (?, ?)
		ORDER BY d.next_due, d.name LIMIT ?`, s.ts(now), s.ts(afterDue), after, limit)
	return defs, s.translate(err)
}
