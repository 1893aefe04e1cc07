package sqlstore

import (
	"context"
	"time"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

// insertWaits records, for the inserted runs that wait for others, who waits for what
// (run_waits), so the end of a run finds its waiters by an index.
func (s *Store) insertWaits(ctx context.Context, c conn, runs []job.Run, inserted map[string]bool) error {
	for _, r := range runs {
		if !inserted[r.ID] {
			continue
		}
		for _, needed := range r.WaitsFor {
			if _, err := c.exec(ctx, `INSERT INTO run_waits (needed, waiter) VALUES (?, ?) ON CONFLICT DO NOTHING`, needed, r.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// newestAttempt follows a run's retries to its newest attempt, locking each row where
// rows are locked: a run that ends concurrently either ends first (and the caller sees
// it ended) or waits until the caller's transaction is over (and then sees its waiter).
func (s *Store) newestAttempt(ctx context.Context, c conn, id string) (job.Run, error) {
	r, err := scanRun(c.row(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`+s.d.LockRows(), id))
	for i := 0; err == nil && i < maxAttempts; i++ {
		next, nerr := scanRun(c.row(ctx, `SELECT `+runColumns+` FROM runs WHERE retry_of = ?`+s.d.LockRows(), r.ID))
		if isNoRows(nerr) {
			break
		}
		if nerr != nil {
			return r, nerr
		}
		r = next
	}
	return r, err
}

// firstAttempt is the id of the first attempt of the job run r is an attempt of.
func (s *Store) firstAttempt(ctx context.Context, c conn, r job.Run) (string, error) {
	for i := 0; r.RetryOf != "" && i < maxAttempts; i++ {
		prev, err := getRun(ctx, c, r.RetryOf)
		if err != nil {
			return "", err
		}
		r = prev
	}
	return r.ID, nil
}

// releaseWaiters applies the end of run ended to the runs that wait for it, in the
// transaction of the end: each is queued, skipped or left waiting as group.ReleaseWaiter
// decides; a skip ends the skipped run in turn.
func (s *Store) releaseWaiters(ctx context.Context, c conn, ended job.Run, now time.Time) error {
	if !ended.State.Terminal() {
		return nil
	}
	first, err := s.firstAttempt(ctx, c, ended)
	if err != nil {
		return err
	}
	waiters, err := all(ctx, c, scanString, `SELECT waiter FROM run_waits WHERE needed = ? ORDER BY waiter`, first)
	if err != nil {
		return err
	}
	for _, id := range waiters {
		w, err := getRun(ctx, c, id)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.resolveWaiter(ctx, c, w, now); err != nil {
			return err
		}
	}
	return nil
}

// resolveWaiter reads the newest attempt of each run w waits for and applies what the
// rule decides. A run that ends here releases its own waiters and settles its group.
func (s *Store) resolveWaiter(ctx context.Context, c conn, w job.Run, now time.Time) error {
	if w.State != job.StateWaiting || len(w.WaitsFor) == 0 {
		return nil
	}
	newest := make(map[string]job.Run, len(w.WaitsFor))
	for _, id := range w.WaitsFor {
		r, err := s.newestAttempt(ctx, c, id)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return err
		}
		newest[id] = r
	}
	ch, ok := group.ReleaseWaiter(w, newest)
	if !ok {
		return nil
	}
	var finished any
	if ch.To.Terminal() {
		finished = s.ts(now)
	}
	out, err := scanRun(c.row(ctx, `UPDATE runs SET state = ?, reason = ?, message = ?, finished_at = COALESCE(?, finished_at), not_before = ?
		WHERE id = ? AND state = ? RETURNING `+runColumns, ch.To, ch.Reason, ch.Message, finished, s.ts(now), ch.RunID, ch.From))
	if isNoRows(err) {
		return nil // moved meanwhile (cancelled)
	}
	if err != nil {
		return err
	}
	if err := s.insertEvents(ctx, c, []job.Event{{RunID: ch.RunID, Time: now, State: ch.To, Reason: ch.Reason, Message: ch.Message}}); err != nil {
		return err
	}
	if !ch.To.Terminal() {
		return nil
	}
	if err := s.releaseWaiters(ctx, c, out, now); err != nil {
		return err
	}
	if out.Parent != "" {
		return s.settle(ctx, c, out, false, now)
	}
	return nil
}

// resolveNew settles the waiters among runs just created: what they wait for may have
// ended already.
func (s *Store) resolveNew(ctx context.Context, c conn, runs []job.Run, now time.Time) error {
	for _, r := range runs {
		if len(r.WaitsFor) == 0 {
			continue
		}
		stored, err := getRun(ctx, c, r.ID)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.resolveWaiter(ctx, c, stored, now); err != nil {
			return err
		}
	}
	return nil
}

// reconcileWaiters settles every waiting run that waits for other runs, as their ends
// would have: a safety net, as GroupReconcile is for groups.
func (s *Store) reconcileWaiters(ctx context.Context, now time.Time) (int, error) {
	ids, err := all(ctx, s.conn(), scanString, `SELECT id FROM runs WHERE state = 'waiting' AND waits_for IS NOT NULL ORDER BY id`)
	if err != nil {
		return 0, s.translate(err)
	}
	changed := 0
	for _, id := range ids {
		err := s.tx(ctx, func(c conn) error {
			w, err := getRun(ctx, c, id)
			if err != nil {
				return err
			}
			if err := s.resolveWaiter(ctx, c, w, now); err != nil {
				return err
			}
			after, err := getRun(ctx, c, id)
			if err == nil && after.State != w.State {
				changed++
			}
			return err
		})
		if err != nil {
			return changed, err
		}
	}
	return changed, nil
}
