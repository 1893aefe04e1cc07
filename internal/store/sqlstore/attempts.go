package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"docket.dev/docket/internal/job"
)

// maxAttempts bounds the walk of a retry chain (retries are capped far below it).
const maxAttempts = 1000

// RunAttempts follows the retry chain from run id, one probe of the unique retry_of index
// per attempt.
func (s *Store) RunAttempts(ctx context.Context, id string) ([]job.Run, error) {
	first, err := getRun(ctx, s.conn(), id)
	if err != nil {
		return nil, s.translate(err)
	}
	out := []job.Run{first}
	for len(out) < maxAttempts {
		next, err := scanRun(s.conn().row(ctx, `SELECT `+runColumns+` FROM runs WHERE retry_of = ?`, out[len(out)-1].ID))
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return nil, s.translate(err)
		}
		out = append(out, next)
	}
	return out, nil
}

// RunTask reads the first attempt of a task by the (parent, task index) unique index.
func (s *Store) RunTask(ctx context.Context, parent string, index int) (job.Run, error) {
	r, err := scanRun(s.conn().row(ctx, `SELECT `+runColumns+` FROM runs WHERE parent_id = ? AND task_index = ? AND retry_of IS NULL`, parent, index))
	return r, s.translate(err)
}
