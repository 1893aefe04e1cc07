package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

// insertGroups inserts runs, children after their parents: a child whose parent was kept
// out (a slot or an idempotency key already used) is left out with it. It returns the
// ids inserted.
func (s *Store) insertGroups(ctx context.Context, c conn, runs []job.Run, onConflict string) (map[string]bool, error) {
	var top, children []job.Run
	for _, r := range runs {
		if r.Parent != "" {
			children = append(children, r)
		} else {
			top = append(top, r)
		}
	}
	inserted, err := s.insertRuns(ctx, c, top, onConflict)
	if err != nil || len(children) == 0 {
		return inserted, err
	}
	children = slices.DeleteFunc(children, func(r job.Run) bool { return !inserted[r.Parent] })
	more, err := s.insertRuns(ctx, c, children, "")
	for id := range more {
		inserted[id] = true
	}
	return inserted, err
}

// startGroups moves the named group runs that are still queued to running: one of their
// children has started.
func (s *Store) startGroups(ctx context.Context, c conn, parents []string, now time.Time) error {
	for _, id := range parents {
		p, err := scanRun(c.row(ctx, `UPDATE runs SET state = 'running', started_at = COALESCE(started_at, ?), reason = 'Started',
			message = 'a child has started' WHERE id = ? AND state = 'queued' RETURNING `+runColumns, s.ts(now), id))
		if err != nil {
			if isNoRows(err) {
				continue // running already, or over
			}
			return err
		}
		ev := job.Event{RunID: p.ID, Time: now, State: job.StateRunning, Reason: p.Reason, Message: p.Message}
		if err := s.insertEvents(ctx, c, []job.Event{ev}); err != nil {
			return err
		}
	}
	return nil
}

// settle applies the group rules to the group of a child that changed state, in the
// transaction of the change: a child that started starts its group; one that ended for
// good (no retry to come) is counted, releases or skips the waiting children it decides,
// cancels the rest of an array that failed too often, and ends the group once every child
// has ended. The group's row is locked where rows are, so the ends of two children of one
// group are settled one after the other.
func (s *Store) settle(ctx context.Context, c conn, child job.Run, retried bool, now time.Time) error {
	if child.State.Active() {
		return s.startGroups(ctx, c, []string{child.Parent}, now)
	}
	if !child.State.Terminal() || retried {
		return nil
	}
	parent, err := scanRun(c.row(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`+s.d.LockRows(), child.Parent))
	if err != nil {
		return fmt.Errorf("group run %s of run %s: %w", child.Parent, child.ID, err)
	}
	if parent.State.Terminal() || parent.Group == nil {
		return nil
	}
	g := parent.Group
	group.Count(g, child.State)
	overflowed := parent.Kind == job.KindArray && group.Overflowing(*g) && !group.Overflowing(job.Group{Failed: g.Failed - 1, MaxFailed: g.MaxFailed})
	if parent.Kind == job.KindWorkflow || parent.CancelledBy != "" || overflowed {
		if err := s.cascade(ctx, c, &parent, overflowed, now); err != nil {
			return err
		}
	}
	if _, err := c.exec(ctx, `UPDATE runs SET group_ended = ?, group_succeeded = ?, group_failed = ? WHERE id = ?`,
		g.Ended, g.Succeeded, g.Failed, parent.ID); err != nil {
		return err
	}
	if g.Ended < g.Size {
		return nil
	}
	return s.endGroup(ctx, c, parent, now)
}

// cascade applies what a child's end decides for its siblings: a workflow's waiting
// children are released or skipped (a skip may skip what waits for it in turn); an array
// that failed too often, or a group someone cancelled, has its queued children cancelled
// and its active ones asked to stop. Each child that ends here is counted in parent.
func (s *Store) cascade(ctx context.Context, c conn, parent *job.Run, overflowed bool, now time.Time) error {
	if overflowed || parent.CancelledBy != "" {
		children, err := all(ctx, c, scanRun, `SELECT `+runColumns+` FROM runs WHERE parent_id = ? AND state IN ('waiting', 'queued', 'dispatched', 'pending', 'running')`, parent.ID)
		if err != nil {
			return err
		}
		why := parent.CancelledBy
		reason, msg := job.ReasonCancelled, "cancelled: the group was cancelled by "+why
		if overflowed {
			why = fmt.Sprintf("the array (more than %d of its tasks failed)", *parent.Group.MaxFailed)
			// In the words the executor uses for the active ones it stops.
			reason, msg = job.ReasonMaxFailed, "cancelled by "+why
		}
		for _, ch := range children {
			if ch.Always {
				continue // clean-up and notification run however the rest ended
			}
			switch {
			case ch.State == job.StateQueued || ch.State == job.StateWaiting:
				to := job.StateCancelled
				if ch.State == job.StateWaiting {
					to = job.StateSkipped
				}
				if err := s.changeChild(ctx, c, parent, group.Change{RunID: ch.ID, From: ch.State, To: to, Reason: reason, Message: msg}, now); err != nil {
					return err
				}
			case ch.State.Active() && ch.CancelledBy == "":
				// The server that holds the run stops it (its dispatcher looks for requests).
				if _, err := c.exec(ctx, `UPDATE runs SET cancel_requested_by = ? WHERE id = ? AND cancel_requested_by = ''`, why, ch.ID); err != nil {
					return err
				}
			}
		}
	}
	if parent.Kind != job.KindWorkflow {
		return nil
	}
	// A waiting step is released once all its needs have ended for good: while fewer
	// children have ended than any waiting step needs, nothing can be, and the group's
	// steps need not be read (each end of a wide fan-in would read them all).
	var needed []int
	if err := func() error {
		rows, err := all(ctx, c, scanString, `SELECT COALESCE(needs, '') FROM runs WHERE parent_id = ? AND state = 'waiting'`, parent.ID)
		for _, n := range rows {
			needed = append(needed, strings.Count(n, ",")+1)
		}
		return err
	}(); err != nil {
		return err
	}
	if len(needed) == 0 || parent.CancelledBy == "" && slices.Min(needed) > parent.Group.Ended {
		return nil
	}
	// Release needs every step's newest attempt, ended ones included.
	every, err := all(ctx, c, scanRun, `SELECT `+runColumns+` FROM runs WHERE parent_id = ?`, parent.ID)
	if err != nil {
		return err
	}
	latest := group.Latest(every)
	for {
		changes := group.Release(latest, parent.CancelledBy)
		if len(changes) == 0 {
			return nil
		}
		for _, ch := range changes {
			if err := s.changeChild(ctx, c, parent, ch, now); err != nil {
				return err
			}
			r := latest[stepOf(every, ch.RunID)]
			r.State = ch.To
			latest[r.Step] = r
		}
	}
}

// stepOf returns the step of the run with id among runs.
func stepOf(runs []job.Run, id string) string {
	for _, r := range runs {
		if r.ID == id {
			return r.Step
		}
	}
	return ""
}

// changeChild applies one change the rules decided, guarded by the child's state, with
// its event, and counts it in parent when it ends the child.
func (s *Store) changeChild(ctx context.Context, c conn, parent *job.Run, ch group.Change, now time.Time) error {
	var finished any
	if ch.To.Terminal() {
		finished = s.ts(now)
	}
	n, err := c.execN(ctx, `UPDATE runs SET state = ?, reason = ?, message = ?, finished_at = COALESCE(?, finished_at), not_before = ?
		WHERE id = ? AND state = ?`, ch.To, ch.Reason, ch.Message, finished, s.ts(now), ch.RunID, ch.From)
	if err != nil || n == 0 {
		return err
	}
	if ch.To.Terminal() {
		group.Count(parent.Group, ch.To)
	}
	if err := s.insertEvents(ctx, c, []job.Event{{RunID: ch.RunID, Time: now, State: ch.To, Reason: ch.Reason, Message: ch.Message}}); err != nil {
		return err
	}
	if !ch.To.Terminal() {
		return nil
	}
	return s.releaseWaiters(ctx, c, job.Run{ID: ch.RunID, State: ch.To}, now)
}

// endGroup ends a group run whose children have all ended, as the rules say.
func (s *Store) endGroup(ctx context.Context, c conn, parent job.Run, now time.Time) error {
	// The children that failed say why the group did; with none, those cancelled do.
	const listed = `FROM runs r WHERE r.parent_id = ? AND r.state = ? AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.retry_of = r.id)`
	failed, of := []job.Run(nil), parent.Group.Failed
	for _, state := range []job.State{job.StateFailed, job.StateCancelled} {
		var err error
		if failed, err = all(ctx, c, scanRun, `SELECT `+runColumns+` `+listed+` ORDER BY r.id LIMIT 5`, parent.ID, state); err != nil {
			return err
		}
		if len(failed) == 5 && state == job.StateCancelled {
			if err := c.row(ctx, `SELECT COUNT(*) `+listed, parent.ID, state).Scan(&of); err != nil {
				return err
			}
		}
		if len(failed) > 0 {
			break
		}
	}
	state, reason, msg := group.Outcome(parent, failed, of)
	n, err := c.execN(ctx, `UPDATE runs SET state = ?, reason = ?, message = ?, finished_at = ?, started_at = COALESCE(started_at, ?)
		WHERE id = ? AND state = ?`, state, reason, msg, s.ts(now), s.ts(now), parent.ID, parent.State)
	if err != nil || n == 0 {
		return err
	}
	if err := s.insertEvents(ctx, c, []job.Event{{RunID: parent.ID, Time: now, State: state, Reason: reason, Message: msg}}); err != nil {
		return err
	}
	ended := parent
	ended.State = state
	if err := s.releaseWaiters(ctx, c, ended, now); err != nil {
		return err
	}
	return s.fire(ctx, c, ended, now, true)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// RunCancelGroup asks a group run and its children to stop for by: queued children are
// cancelled and waiting ones skipped at once (but those that run always), active ones
// are asked to stop (the server holding each stops it), and the group ends once they
// all have. It returns the group run as it then stands.
func (s *Store) RunCancelGroup(ctx context.Context, id, by string, now time.Time) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(c conn) error {
		parent, err := scanRun(c.row(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`+s.d.LockRows(), id))
		if err != nil {
			return err
		}
		if parent.State.Terminal() {
			return fmt.Errorf("%w: run %s already %s", job.ErrConflict, id, parent.State)
		}
		if parent.Group == nil {
			return fmt.Errorf("%w: run %s is not a group run", job.ErrConflict, id)
		}
		if parent.CancelledBy == "" {
			parent.CancelledBy = by
			if _, err := c.exec(ctx, `UPDATE runs SET cancel_requested_by = ? WHERE id = ?`, by, id); err != nil {
				return err
			}
		}
		if err := s.cascade(ctx, c, &parent, false, now); err != nil {
			return err
		}
		g := parent.Group
		if _, err := c.exec(ctx, `UPDATE runs SET group_ended = ?, group_succeeded = ?, group_failed = ? WHERE id = ?`,
			g.Ended, g.Succeeded, g.Failed, id); err != nil {
			return err
		}
		if g.Ended == g.Size {
			if err := s.endGroup(ctx, c, parent, now); err != nil {
				return err
			}
		}
		out, err = getRun(ctx, c, id)
		return err
	})
	return out, err
}

// RunCancelRequested returns the active runs claimed by claimer that someone asked to
// stop: what that server's executor is to stop.
func (s *Store) RunCancelRequested(ctx context.Context, claimer string) ([]job.Run, error) {
	runs, err := all(ctx, s.conn(), scanRun, `SELECT `+runColumns+` FROM runs
		WHERE state IN `+activeStates+` AND claimed_by = ? AND cancel_requested_by <> ''`, claimer)
	return runs, s.translate(err)
}

// GroupReconcile settles every group run that has not ended from its children as they
// stand: its counts are counted again, what its children's ends release or skip is
// applied, and it ends if they all have. Each child's end settles its group in its own
// transaction, so this finds nothing to do unless something went wrong; servers run it
// when they start leading. It returns how many group runs it changed.
func (s *Store) GroupReconcile(ctx context.Context, now time.Time) (int, error) {
	ids, err := all(ctx, s.conn(), scanString, `SELECT id FROM runs WHERE kind <> '' AND state IN ('queued', 'running') ORDER BY id`)
	if err != nil {
		return 0, s.translate(err)
	}
	changed := 0
	for _, id := range ids {
		err := s.tx(ctx, func(c conn) error {
			parent, err := scanRun(c.row(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`+s.d.LockRows(), id))
			if err != nil || parent.State.Terminal() || parent.Group == nil {
				return err
			}
			children, err := all(ctx, c, scanRun, `SELECT `+runColumns+` FROM runs WHERE parent_id = ?`, id)
			if err != nil {
				return err
			}
			before := *parent.Group
			g := parent.Group
			g.Ended, g.Succeeded, g.Failed = 0, 0, 0
			for _, ch := range group.Latest(children) {
				if ch.State.Terminal() {
					group.Count(g, ch.State)
				}
			}
			if err := s.cascade(ctx, c, &parent, false, now); err != nil {
				return err
			}
			if *g == before {
				return nil
			}
			changed++
			if _, err := c.exec(ctx, `UPDATE runs SET group_ended = ?, group_succeeded = ?, group_failed = ? WHERE id = ?`,
				g.Ended, g.Succeeded, g.Failed, id); err != nil {
				return err
			}
			if g.Ended < g.Size {
				return nil
			}
			return s.endGroup(ctx, c, parent, now)
		})
		if err != nil {
			return changed, fmt.Errorf("reconcile group run %s: %w", id, err)
		}
	}
	waiters, err := s.reconcileWaiters(ctx, now)
	return changed + waiters, err
}
