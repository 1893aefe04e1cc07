package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
		if gone, err := s.missingQueue(ctx, c, append([]job.Run{parent}, runs...)); err != nil {
			return err
		} else if gone != "" {
			return fmt.Errorf("%w: run %s ran in queue %s, which no longer exists; apply the queue again to resume the run", job.ErrConflict, id, gone)
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
		firsts := map[string]string{} // a child's key: its first attempt's id
		for _, ch := range children {
			if ch.RetryOf == "" {
				firsts[ch.Key()] = ch.ID
			}
		}
		inputs, outputs := []filePair{{from: id, to: parent.ID}}, []filePair(nil)
		for _, r := range runs {
			if first, ok := firsts[r.Key()]; ok {
				inputs = append(inputs, filePair{from: first, to: r.ID})
			}
			if r.ReusedFrom != "" {
				outputs = append(outputs, filePair{from: r.ReusedFrom, to: r.ID})
			}
		}
		if err := s.copyFiles(ctx, c, store.FileInput, inputs, parent.CreatedAt); err != nil {
			return err
		}
		if err := s.copyFiles(ctx, c, store.FileOutput, outputs, parent.CreatedAt); err != nil {
			return err
		}
		out = s.asStored(parent)
		return s.insertEvents(ctx, c, events)
	})
	switch err = s.translate(err); {
	case errors.Is(err, job.ErrConflict), errors.Is(err, job.ErrNotFound):
		return job.Run{}, err // their sentences name the run already
	case err != nil:
		return job.Run{}, fmt.Errorf("resume run %s: %w", id, err)
	}
	return out, nil
}

// missingQueue returns a queue that an unfinished one of runs is in and that does not
// exist, or "". It locks the queues that exist until the transaction ends: a queue deleted
// since the runs it copies were made would let them start with no limits. QueueDelete
// locks the queue too and refuses while an unfinished run is in it, so the two cannot cross.
func (s *Store) missingQueue(ctx context.Context, c conn, runs []job.Run) (string, error) {
	seen := map[string]bool{job.DefaultQueue: true}
	for _, r := range runs {
		if seen[r.Queue] || r.State.Terminal() {
			continue
		}
		seen[r.Queue] = true
		if ok, err := s.lockQueue(ctx, c, r.Queue); err != nil || !ok {
			return r.Queue, err
		}
	}
	return "", nil
}

// filePair names a run whose files another run gets copies of.
type filePair struct{ from, to string }

// copyFiles gives each pair's to run a copy of the files of kind of its from run: read a
// chunk of runs at a time by their ids, written many rows a statement, so the cost follows
// the number of files and no plan of a join over rows this transaction made is relied on.
func (s *Store) copyFiles(ctx context.Context, c conn, kind string, pairs []filePair, now time.Time) error {
	const perRead = 500
	for chunk := range slices.Chunk(pairs, perRead) {
		to := make(map[string][]string, len(chunk))
		from := make([]string, 0, len(chunk))
		for _, p := range chunk {
			if to[p.from] == nil {
				from = append(from, p.from)
			}
			to[p.from] = append(to[p.from], p.to)
		}
		list, args := in(from)
		files, err := all(ctx, c, scanFile, `SELECT `+fileColumns+` FROM run_files WHERE kind = ? AND run_id IN `+list, append([]any{kind}, args...)...)
		if err != nil {
			return err
		}
		var rows [][]any
		for _, f := range files {
			for _, run := range to[f.run] {
				rows = append(rows, []any{run, kind, f.file.Path, f.file.SHA256, f.file.Size, int64(f.file.Mode), s.ts(now)})
			}
		}
		if err := writeFiles(ctx, c, rows, ""); err != nil {
			return err
		}
	}
	return nil
}
