package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// activeStates is the SQL list of job.ActiveStates.
const activeStates = `('dispatched', 'pending', 'running')`

// onSlot keeps a second run of one job's cron slot out.
const onSlot = `ON CONFLICT (job, scheduled_time) WHERE trigger = 'schedule' DO NOTHING`

// SlotsRecord stores what a scheduler pass decided for each job (its due slots' runs, its
// cursor, its next due time) in one transaction, fenced by the lease term and, per job,
// by its cursor.
func (s *Store) SlotsRecord(ctx context.Context, fence store.Fence, jobs []store.Slots) ([]string, error) {
	var recorded []string
	err := s.tx(ctx, func(c conn) error {
		recorded = nil
		if fence.Lease != "" {
			// The lease's row is locked where rows are, so the lease cannot pass on to
			// another holder before this transaction ends.
			var held bool
			err := c.row(ctx, `SELECT token = ? AND holder = ? FROM leases WHERE name = ?`+s.d.LockRows(), fence.Token, fence.Holder, fence.Lease).Scan(&held)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if !held {
				return fmt.Errorf("%w: the scheduler's lease passed on", job.ErrConflict)
			}
		}
		var (
			runs   []job.Run
			events []job.Event
		)
		// The jobs' rows are locked in name order, as the jobs a batch of ends fires are
		// (fireEnds): a job both scheduled and fired by another's end is then taken by one
		// writer after the other, never each waiting for the other.
		jobs = slices.SortedFunc(slices.Values(jobs), func(a, b store.Slots) int { return strings.Compare(a.Job, b.Job) })
		for _, js := range jobs {
			n, err := c.execN(ctx, `UPDATE definitions SET scheduled_through = ?, next_due = ?
				WHERE name = ? AND scheduled_through = ? AND deleted_at IS NULL`,
				s.ts(js.Through), s.tsPtr(js.Next), js.Job, s.ts(js.From))
			if err != nil {
				return err
			}
			if n == 0 {
				continue // the cursor moved: another scheduler, or a changed definition
			}
			recorded = append(recorded, js.Job)
			runs, events = append(runs, js.Runs...), append(events, js.Events...)
		}
		inserted, err := s.insertGroups(ctx, c, runs, onSlot)
		if err != nil {
			return err
		}
		// Only the runs inserted now get their first event; the others have theirs.
		events = slices.DeleteFunc(events, func(ev job.Event) bool { return !inserted[ev.RunID] })
		return s.insertEvents(ctx, c, events)
	})
	if err != nil {
		return nil, err
	}
	return recorded, nil
}

// RunUnfinished returns the runs of the named jobs that are queued or active, oldest
// first, by job.
func (s *Store) RunUnfinished(ctx context.Context, jobs []string) (map[string][]job.Run, error) {
	out := make(map[string][]job.Run, len(jobs))
	for chunk := range slices.Chunk(jobs, 500) {
		list, args := in(chunk)
		runs, err := all(ctx, s.conn(), scanRun, `SELECT `+runColumns+` FROM runs
			WHERE job IN `+list+` AND state IN ('waiting', 'queued', 'dispatched', 'pending', 'running') ORDER BY id`, args...)
		if err != nil {
			return nil, s.translate(err)
		}
		for _, r := range runs {
			out[r.Job] = append(out[r.Job], r)
		}
	}
	return out, nil
}

// noInputs is the claim's column that says a run has no input files to place (the
// dispatcher then reads none): none of its own, and neither an earlier attempt nor a
// group run whose files it would get. A run's files are recorded before the run.
const noInputs = `(retry_of IS NULL AND parent_id IS NULL AND NOT EXISTS (SELECT 1 FROM run_files f WHERE f.run_id = runs.id AND f.kind = 'input'))`

// claimScan caps how many queued runs one claim looks at beyond those it takes: runs it
// passes over (an exclusive run whose job is busy, a job another claimer is claiming
// for). Where the dialect locks rows, it locks only the runs it reads.
const claimScan = 1000

// RunClaim moves due queued runs to dispatched in the claim's order (the queue's priority,
// then the run's, then oldest first), honouring exclusive runs, groups' parallelism and
// queues' limits. It reads the queue a page at a time, each page no larger than what
// is still to take, so a claim costs what it takes, not what is queued. Where the dialect
// locks rows, queued rows are read SKIP LOCKED, so concurrent claimers take different runs
// without waiting, and a claimer takes the dialect's per-job lock for each job it claims
// for, without waiting: a job another claimer is claiming for is left to the next pass.
// Under that lock a claim sees every committed claim of its job, so no two claimers start
// exclusive runs of one job at once, nor more children of a group than its parallelism.
// Group runs are never claimed: their children are; a group whose child is claimed is
// running. A suspended job's queued runs wait until it is resumed; a disabled queue's
// until it is enabled.
//
// A queue's limits are counted under the dialect's lock on the queue, tried in the
// statement that reads a page (so its count, read after, sees every committed claim):
// its active runs, and its start rate's token bucket, which the claim writes back. A
// claimer holding no queue lock waits for the first it did not get, so the claimers of
// one queue take its runs in turn, in order; one holding a queue lock passes the others
// over (one that waits holds none, so no two wait on each other).
func (s *Store) RunClaim(ctx context.Context, claimer string, now time.Time, limit int) ([]job.Run, error) {
	var claimed []job.Run
	err := s.tx(ctx, func(c conn) error {
		claimed = nil
		a := admission{s: s, c: c, now: now, locked: map[string]bool{}, claimedFor: map[string]string{}, running: map[string]int{}, cap: map[string]int{},
			queues: map[string]*queueRoom{}}
		afterOrder, after, scanned := -1, "", 0
		for len(claimed) < limit && scanned < limit+claimScan {
			want := limit - len(claimed)
			filter, args := a.filter()
			// The page's LIMIT is an expression (? + 0), not a bare parameter: SQLite plans
			// an ORDER BY under a bare bound LIMIT for the value bound, so it prepared the
			// statement again at every claim (a third of a busy server's claim CPU). Written
			// in as a number, it would make a statement per page size.
			page, err := all(ctx, c, scanClaimable, `SELECT `+runColumns+`, claim_order, `+s.d.TryLockQueue()+`, `+noInputs+` FROM `+s.d.QueuedRuns()+`
				WHERE state = 'queued' AND kind = '' AND not_before <= ? AND (claim_order, id) > (?, ?)
				AND job NOT IN (SELECT name FROM definitions WHERE suspended)
				AND queue NOT IN (SELECT name FROM queues WHERE disabled)`+filter+`
				ORDER BY claim_order, id LIMIT ? + 0`+s.d.SkipLocked(),
				append(append([]any{s.ts(now), afterOrder, after}, args...), want)...)
			if err != nil {
				return err
			}
			if err := a.lockQueues(ctx, page); err != nil {
				return err
			}
			for _, cr := range page {
				r := cr.Run
				afterOrder, after = cr.order, r.ID
				ok, err := a.admit(ctx, r)
				if err != nil {
					return err
				}
				if ok {
					r.State, r.ClaimedBy = job.StateDispatched, claimer
					claimed = append(claimed, r)
				}
			}
			scanned += len(page)
			if len(page) < want {
				break
			}
		}
		if len(claimed) == 0 {
			return nil
		}
		if err := a.spend(ctx); err != nil {
			return err
		}
		ids := make([]string, len(claimed))
		events := make([]job.Event, len(claimed))
		var parents []string
		for i, r := range claimed {
			ids[i] = r.ID
			events[i] = job.Event{RunID: r.ID, Time: now, State: job.StateDispatched, Reason: job.ReasonClaimed, Message: "claimed by " + claimer}
			if r.Parent != "" && !slices.Contains(parents, r.Parent) {
				parents = append(parents, r.Parent)
			}
		}
		list, args := in(ids)
		if _, err := c.exec(ctx, `UPDATE runs SET state = 'dispatched', claimed_by = ? WHERE id IN `+list, append([]any{claimer}, args...)...); err != nil {
			return err
		}
		if err := s.insertEvents(ctx, c, events); err != nil {
			return err
		}
		return s.startGroups(ctx, c, parents, now)
	})
	if err != nil {
		return nil, fmt.Errorf("claim runs: %w", err)
	}
	s.groups.keep(claimed)
	return claimed, nil
}

// admission decides, within one claim's transaction, which queued runs may start, and
// which to pass over in the pages still to read.
type admission struct {
	s *Store
	c conn
	// locked holds the jobs whose claim lock the transaction holds.
	locked map[string]bool
	// claimedFor holds, for each job with a run claimed in the transaction, the group it
	// was claimed for: the run's parent, or the run itself.
	claimedFor map[string]string
	// running counts the active children of groups with a parallelism (cap), claimed ones
	// included.
	running, cap map[string]int
	// Passed over: jobs another claimer is claiming for; jobs whose exclusive runs that
	// are no children wait; groups whose exclusive children wait; groups at their
	// parallelism; queues another claimer is claiming from, or at one of their limits.
	skipJobs, busyJobs, busyGroups, fullGroups, fullQueues []string
	now                                                    time.Time
	// queues holds what the transaction counted of each named queue it claims from.
	queues map[string]*queueRoom
}

// admit reports whether r may be claimed now, and counts it when so. The queue comes
// first: claimers of one queue wait for it in turn, so they seldom meet on a job's lock.
func (a *admission) admit(ctx context.Context, r job.Run) (bool, error) {
	room := a.room(r.Queue)
	if room == nil {
		return false, nil
	}
	if !a.locked[r.Job] {
		ok, err := a.s.d.LockJob(ctx, a.c.q, r.Job)
		if err != nil {
			return false, err
		}
		if !ok {
			a.skipJobs = append(a.skipJobs, r.Job)
			return false, nil
		}
		a.locked[r.Job] = true
	}
	groupOf := r.ID
	if r.Parent != "" {
		groupOf = r.Parent
	}
	if r.Exclusive {
		// A group's children may run side by side; not beside another run of the job.
		busy := a.claimedFor[r.Job] != "" && a.claimedFor[r.Job] != groupOf
		if !busy {
			if err := a.c.row(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE job = ? AND state IN `+activeStates+`
				AND id <> ? AND (parent_id IS NULL OR parent_id <> ?))`, r.Job, r.Parent, r.Parent).Scan(&busy); err != nil {
				return false, err
			}
		}
		if busy {
			if r.Parent != "" {
				a.busyGroups = append(a.busyGroups, r.Parent)
			} else {
				a.busyJobs = append(a.busyJobs, r.Job)
			}
			return false, nil
		}
	}
	if r.Parent != "" {
		if slices.Contains(a.busyGroups, r.Parent) {
			return false, nil
		}
		limit, ok := a.cap[r.Parent]
		if !ok {
			var state job.State
			if err := a.c.row(ctx, `SELECT parallelism, state FROM runs WHERE id = ?`, r.Parent).Scan(&limit, &state); err != nil {
				return false, err
			}
			if state == job.StateQueued {
				// The claim starts this group, so it takes the group's row, which it must
				// not wait for: it holds the child's row already, and a cancel of the group
				// takes the group's row before its children's. A group another write
				// holds waits for the next claim.
				var held bool
				err := a.c.row(ctx, `SELECT true FROM runs WHERE id = ? AND state = 'queued'`+a.s.d.SkipLocked(), r.Parent).Scan(&held)
				if err != nil && !isNoRows(err) {
					return false, err
				}
				if !held {
					a.busyGroups = append(a.busyGroups, r.Parent)
					return false, nil
				}
			}
			a.cap[r.Parent] = limit
			if limit > 0 {
				n := 0
				if err := a.c.row(ctx, `SELECT COUNT(*) FROM runs WHERE parent_id = ? AND state IN `+activeStates, r.Parent).Scan(&n); err != nil {
					return false, err
				}
				a.running[r.Parent] = n
			}
		}
	}
	if limit := a.cap[r.Parent]; r.Parent != "" && limit > 0 && a.running[r.Parent] >= limit {
		a.fullGroups = append(a.fullGroups, r.Parent)
		return false, nil
	}
	if r.Parent != "" {
		a.running[r.Parent]++
	}
	room.take()
	a.claimedFor[r.Job] = groupOf
	return true, nil
}

// filter is the SQL condition, with its arguments, that passes over what admit turned
// away for good in this claim.
func (a *admission) filter() (string, []any) {
	var (
		q    string
		args []any
	)
	if len(a.skipJobs) > 0 {
		list, jobs := in(a.skipJobs)
		q, args = q+` AND job NOT IN `+list, append(args, jobs...)
	}
	if len(a.busyJobs) > 0 {
		list, jobs := in(a.busyJobs)
		q, args = q+` AND NOT (exclusive AND parent_id IS NULL AND job IN `+list+`)`, append(args, jobs...)
	}
	if groups := append(slices.Clone(a.fullGroups), a.busyGroups...); len(groups) > 0 {
		list, ids := in(groups)
		q, args = q+` AND (parent_id IS NULL OR parent_id NOT IN `+list+`)`, append(args, ids...)
	}
	if len(a.fullQueues) > 0 {
		list, names := in(a.fullQueues)
		q, args = q+` AND queue NOT IN `+list, append(args, names...)
	}
	return q, args
}

// RunTransition applies a guarded state change, its events, and t.Then, atomically, and
// returns the run as the change left it. A run that starts running is stamped started
// (once); one that ends is stamped finished. t.Before, when set, is a change made first in
// the same write: the run moves from Before's From on to t.To at once, with Before's events
// recorded before t's and Before's start stamped.
func (s *Store) RunTransition(ctx context.Context, t job.Transition) (job.Run, error) {
	if err := checkTransition(t); err != nil {
		return job.Run{}, err
	}
	var out job.Run
	err := s.tx(ctx, func(c conn) error {
		_, parents, err := s.batchOrder(ctx, c, []job.Transition{t})
		if err != nil {
			return err
		}
		if err := s.lockGroups(ctx, c, []job.Transition{t}, parents); err != nil {
			return err
		}
		out, err = s.transition(ctx, c, t)
		return err
	})
	if err == nil {
		s.groups.forget(t)
	}
	return out, err
}

// RunTransitions applies transitions of different runs, each as RunTransition does, in
// one transaction: all of them, or, when one fails, none, with that one's error.
func (s *Store) RunTransitions(ctx context.Context, ts []job.Transition) ([]job.Run, error) {
	for _, t := range ts {
		if err := checkTransition(t); err != nil {
			return nil, err
		}
	}
	out := make([]job.Run, len(ts))
	err := s.tx(ctx, func(c conn) error {
		order, parents, err := s.batchOrder(ctx, c, ts)
		if err != nil {
			return err
		}
		if err := s.lockGroups(ctx, c, ts, parents); err != nil {
			return err
		}
		// The ends fire together, after every change: see fireEnds.
		var ends []endAt
		c.ends = &ends
		for _, i := range order {
			if out[i], err = s.transition(ctx, c, ts[i]); err != nil {
				return err
			}
		}
		c.ends = nil
		_, err = s.fireEnds(ctx, c, ends)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.groups.forget(ts...)
	return out, nil
}

// batchOrder is the order in which a batch's transitions are written: where rows are
// locked, by their runs' groups, then ids; else as they came. What a run's change locks
// beyond its own row follows from the run: a child's group row, to count its end. Two
// batches written at once (two servers' recorders) that took those locks in different
// orders could each wait for the other until the database ended one as a deadlock; in one
// order, the later waits for the earlier. The jobs the batch's ends fire are locked after
// every change, in name order (fireEnds). Where rows are locked, it returns the runs'
// groups by run id ("" for none), for lockGroups; none for a lone start, which locks no
// group.
func (s *Store) batchOrder(ctx context.Context, c conn, ts []job.Transition) ([]int, map[string]string, error) {
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	if s.d.LockRows() == "" || len(ts) == 1 && !ts[0].To.Terminal() {
		return order, nil, nil
	}
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.RunID
	}
	parents, unknown := s.groups.lookup(ids)
	if len(unknown) > 0 {
		list, args := in(unknown)
		type runGroup struct{ id, parent string }
		rows, err := all(ctx, c, func(sc scanner) (runGroup, error) {
			var r runGroup
			err := sc.Scan(&r.id, &r.parent)
			return r, err
		}, `SELECT id, COALESCE(parent_id, '') FROM runs WHERE id IN `+list, args...)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			parents[r.id] = r.parent
		}
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(strings.Compare(parents[ts[a].RunID], parents[ts[b].RunID]), strings.Compare(ts[a].RunID, ts[b].RunID))
	})
	return order, parents, nil
}

// lockGroups locks, where rows are, the group rows of the runs that end in ts, in id
// order, before any change is written; parents are the runs' groups (batchOrder). An end
// locks its group's row to count it, and the group's rules may then change its other
// children (an array that failed too often cancels the rest); a cancel of the group takes
// its row, then its children's. Taken first, the group's row is never waited for by a
// writer that holds one of its children's rows while another holds the group's and waits
// for that child.
func (s *Store) lockGroups(ctx context.Context, c conn, ts []job.Transition, parents map[string]string) error {
	if s.d.LockRows() == "" {
		return nil
	}
	var groups []string
	for _, t := range ts {
		// A start locks no group that is running already (startGroups).
		if p := parents[t.RunID]; t.To.Terminal() && p != "" && !slices.Contains(groups, p) {
			groups = append(groups, p)
		}
	}
	if len(groups) == 0 {
		return nil
	}
	list, args := in(groups)
	_, err := all(ctx, c, scanString, `SELECT id FROM runs WHERE id IN `+list+` ORDER BY id`+s.d.LockRows(), args...)
	return err
}

// checkTransition refuses a transition no run can make, and a Before that is not a
// change made first.
func checkTransition(t job.Transition) error {
	first := t
	if b := t.Before; b != nil {
		if b.Before != nil || b.Then != nil || b.To.Terminal() || b.RunID != t.RunID || t.From != "" && t.From != b.To || !job.CanTransition(b.To, t.To) {
			return fmt.Errorf("run %s: %s then %s is not a pair of transitions recorded together", t.RunID, b.To, t.To)
		}
		first = *b
	}
	if first.From != "" && !job.CanTransition(first.From, first.To) || first.From == "" && len(job.Preceding(first.To)) == 0 {
		return fmt.Errorf("run %s: %s to %s is not a transition a run can make", t.RunID, first.From, first.To)
	}
	return nil
}

// transition is RunTransition within transaction c, t checked.
func (s *Store) transition(ctx context.Context, c conn, t job.Transition) (out job.Run, err error) {
	first := t
	if t.Before != nil {
		first = *t.Before
	}
	from := []job.State{first.From}
	if first.From == "" {
		from = job.Preceding(first.To)
	}
	var exit any
	if t.ExitCode != nil {
		exit = *t.ExitCode
	}
	var started, finished any
	if first.To == job.StateRunning || t.To == job.StateRunning {
		started = s.ts(first.Time)
	}
	if t.To.Terminal() {
		finished = s.ts(t.Time)
	}
	claimedBy := t.ClaimedBy
	if t.To == job.StateQueued {
		claimedBy = "" // back in the queue: nobody holds it
	}
	list, states := in(from)
	// An end's write also says whether any trigger runs after the run's job: most jobs
	// have none, and their ends then read no triggers (fire). A start fires nothing.
	var upstream bool
	followed := "FALSE"
	if t.To.Terminal() {
		followed = "EXISTS (SELECT 1 FROM triggers WHERE upstream = runs.job)"
	}
	out, err = scanRun(withMore{c.row(ctx, `UPDATE runs SET state = ?, reason = ?, message = ?,
		exit_code = COALESCE(?, exit_code),
		started_at = COALESCE(started_at, ?),
		finished_at = COALESCE(?, finished_at),
		claimed_by = CASE WHEN ? THEN ? ELSE claimed_by END
		WHERE id = ? AND state IN `+list+` RETURNING `+runColumns+`, `+followed,
		append([]any{t.To, t.Reason, t.Message, exit, started, finished,
			t.To == job.StateQueued || claimedBy != "", claimedBy, t.RunID}, states...)...), []any{&upstream}})
	if errors.Is(err, sql.ErrNoRows) {
		if first.From == "" {
			return out, s.missed(ctx, c, t.RunID, fmt.Sprintf("run %s cannot move to %s", t.RunID, first.To))
		}
		return out, s.missed(ctx, c, t.RunID, fmt.Sprintf("run %s is no longer %s", t.RunID, first.From))
	}
	if err != nil {
		return out, err
	}
	events := t.Events()
	if b := t.Before; b != nil {
		events = append(b.Events(), events...)
		if out.Parent != "" {
			// The group sees the child's start, as it would have in a write of its own.
			mid := out
			mid.State = b.To
			if err := s.settle(ctx, c, mid, false, b.Time); err != nil {
				return out, err
			}
		}
	}
	if t.Then != nil {
		if _, err := s.insertRun(ctx, c, *t.Then, ""); err != nil {
			return out, err
		}
		events = append(events, job.Event{RunID: t.Then.ID, Time: t.Time, State: t.Then.State, Reason: t.Then.Reason, Message: t.Then.Message})
	}
	if err := s.insertEvents(ctx, c, events); err != nil {
		return out, err
	}
	if t.Then == nil {
		if err := s.releaseWaiters(ctx, c, out, t.Time); err != nil {
			return out, err
		}
	}
	if out.Parent == "" {
		if t.Then != nil {
			return out, nil // not over: its retry is queued
		}
		return out, s.fire(ctx, c, out, t.Time, upstream)
	}
	return out, s.settle(ctx, c, out, t.Then != nil, t.Time)
}

// missed is the error of a guarded write that changed no row: job.ErrNotFound when the
// run does not exist, else job.ErrConflict saying why.
func (s *Store) missed(ctx context.Context, c conn, id, why string) error {
	if _, err := getRun(ctx, c, id); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", job.ErrConflict, why)
}

// RunRequestCancel records the first request to cancel an unfinished run.
func (s *Store) RunRequestCancel(ctx context.Context, id, by string) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, `UPDATE runs SET cancel_requested_by = ?
			WHERE id = ? AND cancel_requested_by = '' AND state NOT IN ('succeeded', 'failed', 'cancelled', 'skipped')`, by, id)
		if err != nil {
			return err
		}
		if out, err = getRun(ctx, c, id); err != nil {
			return err
		}
		if n == 0 && out.State.Terminal() {
			return fmt.Errorf("%w: run %s already %s", job.ErrConflict, id, out.State)
		}
		return nil
	})
	return out, err
}

// RunReclaim hands an active run from a server that is gone to another.
func (s *Store) RunReclaim(ctx context.Context, id, from, to string, ev job.Event) (job.Run, error) {
	var out job.Run
	err := s.tx(ctx, func(c conn) error {
		n, err := c.execN(ctx, `UPDATE runs SET claimed_by = ?
			WHERE id = ? AND claimed_by = ? AND state IN ('pending', 'running')`, to, id, from)
		if err != nil {
			return err
		}
		if n == 0 {
			return s.missed(ctx, c, id, fmt.Sprintf("run %s is no longer active under %s", id, from))
		}
		if err := s.insertEvents(ctx, c, []job.Event{ev}); err != nil {
			return err
		}
		out, err = getRun(ctx, c, id)
		return err
	})
	return out, err
}
