package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

// putTriggers makes the triggers table hold spec's after, in the transaction that stores
// its revision. An entry kept keeps its creation time (the ends before it fire nothing);
// the waiting ends of jobs it no longer runs after are forgotten.
func (s *Store) putTriggers(ctx context.Context, c conn, spec job.Spec, now time.Time) error {
	if len(spec.After) > 0 {
		// Applies that add triggers take turns, so two of them cannot close a cycle
		// between them, each checked against the triggers before the other's.
		if err := s.d.LockQueue(ctx, c.q, triggersLock); err != nil {
			return err
		}
	}
	ups := make([]any, 0, len(spec.After))
	for _, a := range spec.After {
		ups = append(ups, a.Job)
		on := a.On
		if on == "" {
			on = job.OnSucceeded
		}
		if _, err := c.exec(ctx, `INSERT INTO triggers (job, upstream, on_state, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (job, upstream) DO UPDATE SET on_state = excluded.on_state`, spec.Name, a.Job, on, s.ts(now)); err != nil {
			return err
		}
	}
	keep, args := "", []any{spec.Name}
	if len(ups) > 0 {
		var list string
		list, ups = in(ups)
		keep, args = ` AND upstream NOT IN `+list, append(args, ups...)
	}
	if _, err := c.exec(ctx, `DELETE FROM triggers WHERE job = ?`+keep, args...); err != nil {
		return err
	}
	if _, err := c.exec(ctx, `DELETE FROM trigger_firings WHERE job = ? AND run_id IS NULL`+keep, args...); err != nil {
		return err
	}
	return s.triggerCycle(ctx, c, spec)
}

// triggersLock names the lock, in the queues' lock space under a name no queue can have,
// that applies adding triggers take.
const triggersLock = "/triggers"

// triggerCycle refuses spec's after when the triggers, as stored now with it, run a job
// after itself: a path from a job spec runs after back to spec's job. The apply checked
// that against the jobs it read; this holds it against an apply that committed since.
func (s *Store) triggerCycle(ctx context.Context, c conn, spec job.Spec) error {
	seen := map[string]bool{}
	next := make([]string, 0, len(spec.After))
	for _, a := range spec.After {
		next = append(next, a.Job)
	}
	for len(next) > 0 {
		name := next[len(next)-1]
		next = next[:len(next)-1]
		if name == spec.Name {
			return job.Invalid("after", "job %s would run after itself through the triggers stored since it was checked (another apply added one): apply it again to see the cycle", spec.Name)
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		ups, err := all(ctx, c, scanString, `SELECT t.upstream FROM triggers t
			JOIN definitions d ON d.name = t.job AND d.deleted_at IS NULL WHERE t.job = ?`, name)
		if err != nil {
			return err
		}
		next = append(next, ups...)
	}
	return nil
}

// fire records, in the transaction that ends a run that is no group's child for good,
// the end for every live job that runs after the run's job and waits for such an end,
// and starts each of those jobs once every job it runs after has such an end. The end is
// recorded once per job under the key (job, upstream run), so it fires nothing twice.
// In a transaction that defers its firings (a batch of changes), the end is kept, to
// fire with the batch's others at its end. upstream is false when the write of the end
// found no trigger that runs after the run's job: nothing is read then.
func (s *Store) fire(ctx context.Context, c conn, ended job.Run, now time.Time, upstream bool) error {
	e := endAt{run: ended, at: now, upstream: upstream}
	if c.ends != nil {
		*c.ends = append(*c.ends, e)
		return nil
	}
	_, err := s.fireEnds(ctx, c, []endAt{e})
	return err
}

// fireCount is fire at once, returning how many runs it started.
func (s *Store) fireCount(ctx context.Context, c conn, ended job.Run, now time.Time) (int, error) {
	return s.fireEnds(ctx, c, []endAt{{run: ended, at: now, upstream: true}})
}

// endAt is a run's end, kept to fire when its transaction's other changes are made.
type endAt struct {
	run job.Run
	at  time.Time
	// upstream is false when the run's job is known to be no trigger's upstream.
	upstream bool
}

// fireEnds fires what each end fires, as fire does, and returns how many runs they
// started. Each job fired is locked where rows are, and the jobs are taken in name order
// across all the ends: two transactions that fire some of the same jobs lock them in
// one order, so the later waits for the earlier rather than each for the other.
func (s *Store) fireEnds(ctx context.Context, c conn, ends []endAt) (int, error) {
	type firing struct {
		job string
		end endAt
	}
	var firings []firing
	for _, e := range ends {
		if e.run.Parent != "" || !e.run.State.Terminal() || !e.upstream {
			continue
		}
		jobs, err := all(ctx, c, func(sc scanner) (firing, error) {
			f := firing{end: e}
			var on job.TriggerOn
			if err := sc.Scan(&f.job, &on); err != nil {
				return f, err
			}
			if !(job.After{Job: e.run.Job, On: on}).Fires(e.run.State) {
				f.job = ""
			}
			return f, nil
		}, `SELECT t.job, t.on_state FROM triggers t JOIN definitions d ON d.name = t.job AND d.deleted_at IS NULL
			WHERE t.upstream = ?`, e.run.Job)
		if err != nil {
			return 0, err
		}
		for _, f := range jobs {
			if f.job != "" {
				firings = append(firings, f)
			}
		}
	}
	slices.SortStableFunc(firings, func(a, b firing) int { return strings.Compare(a.job, b.job) })
	started := 0
	for _, f := range firings {
		ended, now := f.end.run, f.end.at
		// The job's row is locked where rows are: ends of two jobs it runs after take
		// turns, so the second sees the first's end and fires.
		var name string
		if err := c.row(ctx, `SELECT name FROM definitions WHERE name = ? AND deleted_at IS NULL`+s.d.LockRows(), f.job).Scan(&name); err != nil {
			if isNoRows(err) {
				continue
			}
			return started, err
		}
		// Read again under the lock: an apply that changed the trigger since the read
		// above has committed, and its trigger decides.
		var on job.TriggerOn
		if err := c.row(ctx, `SELECT on_state FROM triggers WHERE job = ? AND upstream = ?`, f.job, ended.Job).Scan(&on); err != nil {
			if isNoRows(err) {
				continue
			}
			return started, err
		}
		if !(job.After{Job: ended.Job, On: on}).Fires(ended.State) {
			continue
		}
		n, err := c.execN(ctx, `INSERT INTO trigger_firings (job, upstream, upstream_run, run_id, created_at) VALUES (?, ?, ?, NULL, ?)
			ON CONFLICT (job, upstream_run) DO NOTHING`, f.job, ended.Job, ended.ID, s.ts(now))
		if err != nil {
			return started, err
		}
		if n == 0 {
			continue // recorded before
		}
		fired, err := s.fireJob(ctx, c, f.job, ended.ID, fmt.Sprintf("run %s of job %s %s", ended.ID, ended.Job, ended.State), now)
		if err != nil {
			return started, err
		}
		if fired {
			started++
		}
	}
	return started, nil
}

// fireJob starts a run of the job name when every job it runs after has an end waiting,
// and marks those ends used by it. key is the upstream run whose end completes the set:
// the run's idempotency key derives from it, so it is made once. It reports whether a
// run was made.
func (s *Store) fireJob(ctx context.Context, c conn, name, key, cause string, now time.Time) (bool, error) {
	def, err := scanDefinition(c.row(ctx, `SELECT `+defColumns+defFrom+` WHERE d.name = ? AND d.deleted_at IS NULL`, name))
	if err != nil {
		if isNoRows(err) {
			return false, nil
		}
		return false, err
	}
	waiting, err := all(ctx, c, scanString, `SELECT DISTINCT upstream FROM trigger_firings WHERE job = ? AND run_id IS NULL`, name)
	if err != nil || !job.AfterReady(def.After, waiting) {
		return false, err
	}
	run := job.NewRun(def.Name, def.Revision, job.TriggerAfter, now)
	run.IdempotencyKey, run.Exclusive = "after:"+key, def.Concurrency == job.ConcurrencyForbid
	if len(def.After) > 1 {
		cause += fmt.Sprintf(", and each of the %d jobs it runs after has ended since it last ran", len(def.After))
	}
	run.Reason, run.Message = job.ReasonTriggered, "queued: "+cause
	var children []job.Run
	events := []job.Event{}
	if def.Suspended {
		run.State, run.Reason, run.Message, run.FinishedAt = job.StateSkipped, job.ReasonSuspended, "not run: the job is suspended; "+cause, &now
	} else {
		children, events = group.Expand(&run, def.Spec, def.Tasks, nil)
	}
	inserted, err := s.insertRun(ctx, c, run, onIdempotencyKey)
	if err != nil {
		return false, err
	}
	if inserted {
		if _, err := s.insertRuns(ctx, c, children, ""); err != nil {
			return false, err
		}
		if err := s.insertEvents(ctx, c, append([]job.Event{run.FirstEvent()}, events...)); err != nil {
			return false, err
		}
	}
	_, err = c.exec(ctx, `UPDATE trigger_firings SET run_id = ? WHERE job = ? AND run_id IS NULL`, run.ID, name)
	return inserted, err
}

// triggerScan caps how many unrecorded ends one reconcile pass records, and
// triggerLookback how far back it looks: each end fires in its own transaction, so the
// pass is a safety net, and a long history is not read again at every start.
const (
	triggerScan     = 1000
	triggerLookback = 7 * 24 * time.Hour
)

// TriggerReconcile records the qualifying ends of upstream runs that no firing holds yet
// (since each trigger was defined, in the last week), and fires the jobs whose ends are all there. Each
// end fires in the transaction that makes it, so this finds nothing to do unless
// something went wrong; servers run it when they start leading. It returns how many runs
// it started.
func (s *Store) TriggerReconcile(ctx context.Context, now time.Time) (int, error) {
	ended, err := all(ctx, s.conn(), scanRun, `SELECT `+prefixed("r", runColumns)+` FROM triggers t
		JOIN definitions d ON d.name = t.job AND d.deleted_at IS NULL
		JOIN runs r ON r.job = t.upstream AND r.parent_id IS NULL AND r.finished_at >= t.created_at AND r.finished_at >= ?
			AND (r.state = t.on_state OR t.on_state = 'finished' AND r.state IN ('succeeded', 'failed', 'cancelled'))
		WHERE NOT EXISTS (SELECT 1 FROM trigger_firings f WHERE f.job = t.job AND f.upstream_run = r.id)
			AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.retry_of = r.id)
		ORDER BY r.id LIMIT ?`, s.ts(now.Add(-triggerLookback)), triggerScan)
	if err != nil {
		return 0, s.translate(err)
	}
	started := 0
	for _, r := range ended {
		if err := s.tx(ctx, func(c conn) error {
			n, err := s.fireCount(ctx, c, r, now)
			started += n
			return err
		}); err != nil {
			return started, fmt.Errorf("fire the triggers of run %s: %w", r.ID, err)
		}
	}
	// Jobs whose ends are all there but did not fire (an end recorded by a server that
	// stopped before firing cannot happen in one transaction; this is the safety net).
	jobs, err := all(ctx, s.conn(), scanString, `SELECT DISTINCT job FROM trigger_firings WHERE run_id IS NULL ORDER BY job`)
	if err != nil {
		return started, s.translate(err)
	}
	for _, name := range jobs {
		err := s.tx(ctx, func(c conn) error {
			var key string
			if err := c.row(ctx, `SELECT MAX(upstream_run) FROM trigger_firings WHERE job = ? AND run_id IS NULL`, name).Scan(&key); err != nil {
				return err
			}
			fired, err := s.fireJob(ctx, c, name, key, "each job it runs after has ended since it last ran", now)
			if fired {
				started++
			}
			return err
		})
		if err != nil {
			return started, fmt.Errorf("fire job %s: %w", name, err)
		}
	}
	return started, nil
}

// prefixed qualifies each of a column list's names with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
