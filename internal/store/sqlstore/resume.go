package sqlstore

import (
	"context"
	"fmt"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// RunResume stores the group run that plan makes of the ended group run id and its
// children, with their first events and the reports of the children it carries over,
// in one transaction that holds id's row: a group still running, or one a resume of it
// is still running for, is refused.
func (s *Store) RunResume(ctx context.Context, id string, plan store.ResumePlan) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(c conn) error {
		old, err := scanRun(c.row(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`+s.d.LockRows(), id))
		if err != nil {
			return err
		}
		switch {
		case old.Group == nil:
			return fmt.Errorf("%w: run %s is no workflow or array run; start a new run of job %s instead", job.ErrConflict, id, old.Job)
		case !old.State.Terminal():
			return fmt.Errorf("%w: run %s is %s; resume it once it has ended, or cancel it first", job.ErrConflict, id, old.State)
		}
		var active string
		err = c.row(ctx, `SELECT id FROM runs WHERE resumed_from = ? AND state NOT IN ('succeeded', 'failed', 'cancelled', 'skipped') LIMIT 1`, id).Scan(&active)
		switch {
		case err == nil:
			return fmt.Errorf("%w: run %s already resumes run %s and has not ended", job.ErrConflict, active, id)
		case !isNoRows(err):
			return err
		}
		children, err := all(ctx, c, scanRun, `SELECT `+runColumns+` FROM runs WHERE parent_id = ? ORDER BY id`, id)
		if err != nil {
			return err
		}
		parent, runs, events, err := plan(old, children)
		if err != nil {
			return err
		}
		if _, err := s.insertRuns(ctx, c, []job.Run{parent}, ""); err != nil {
			return err
		}
		if _, err := s.insertRuns(ctx, c, runs, ""); err != nil {
			return err
		}
		for _, r := range runs {
			if r.ReusedFrom == "" {
				continue
			}
			if _, err := c.exec(ctx, `INSERT INTO run_reports (run_id, metrics, result, checkpoint, updated_at)
				SELECT ?, metrics, result, checkpoint, updated_at FROM run_reports WHERE run_id = ?`, r.ID, r.ReusedFrom); err != nil {
				return err
			}
		}
		// The files go with them: the group's inputs, each child's inputs (those of the
		// first attempt of the child of old with its step or task index), and the output
		// files of the children carried over, as their reports.
		for _, st := range []struct {
			q    string
			args []any
		}{
			{`INSERT INTO run_files (run_id, kind, path, sha256, size, mode, created_at)
				SELECT ?, kind, path, sha256, size, mode, created_at FROM run_files WHERE run_id = ? AND kind = 'input'`, []any{parent.ID, id}},
			{`INSERT INTO run_files (run_id, kind, path, sha256, size, mode, created_at)
				SELECT n.id, f.kind, f.path, f.sha256, f.size, f.mode, f.created_at
				FROM runs n JOIN runs o ON o.parent_id = ? AND o.retry_of IS NULL AND (o.task_index = n.task_index OR o.step = n.step)
				JOIN run_files f ON f.run_id = o.id AND f.kind = 'input'
				WHERE n.parent_id = ?`, []any{id, parent.ID}},
			{`INSERT INTO run_files (run_id, kind, path, sha256, size, mode, created_at)
				SELECT n.id, f.kind, f.path, f.sha256, f.size, f.mode, f.created_at
				FROM runs n JOIN run_files f ON f.run_id = n.reused_from AND f.kind = 'output'
				WHERE n.parent_id = ?`, []any{parent.ID}},
		} {
			if _, err := c.exec(ctx, st.q, st.args...); err != nil {
				return err
			}
		}
		out = s.asStored(parent)
		return s.insertEvents(ctx, c, events)
	})
	if err != nil {
		return job.Run{}, fmt.Errorf("resume run %s: %w", id, s.translate(err))
	}
	return out, nil
}
