// Package schedule is the first stage of Docket's flow: it turns the due cron slots of every
// job into runs in the queue (the runs table), queued or skipped with the reason, and moves
// each job's cursor past them in the same transaction. A slot's run is keyed by (job, slot)
// under a unique index, so a restart or a second scheduler cannot fire a slot twice.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"docket.dev/docket/internal/cron"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Store is what the scheduler needs of the store.
type Store interface {
	DefinitionDue(ctx context.Context, now, afterDue time.Time, after string, limit int) ([]job.Definition, error)
	RunUnfinished(ctx context.Context, jobs []string) (map[string][]job.Run, error)
	SlotsRecord(ctx context.Context, fence store.Fence, jobs []store.Slots) ([]string, error)
	GroupReconcile(ctx context.Context, now time.Time) (int, error)
	TriggerReconcile(ctx context.Context, now time.Time) (int, error)
}

// Canceller stops a run; the scheduler uses it for concurrency: replace.
type Canceller interface {
	Cancel(ctx context.Context, runID, by string) (job.Run, error)
}

// Options configures a Scheduler.
type Options struct {
	Store     Store
	Canceller Canceller
	Logger    *slog.Logger
	// Interval is how often the scheduler looks for due slots.
	Interval time.Duration
	// Grace is how late a slot may be found and still count as on time.
	Grace time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Queued is called after a pass queued runs, to wake the dispatcher.
	Queued func()
	// Recorded, if set, is told the runs made for a job's due slots once they are stored.
	Recorded func(runs []job.Run)
}

// Scheduler fires the slots of every scheduled job.
type Scheduler struct {
	opts Options
	now  func() time.Time
	mu   sync.Mutex
	// parsed caches parsed expressions, since every pass looks at every job.
	parsed map[string]*cron.Schedule
}

// New returns a Scheduler.
func New(opts Options) *Scheduler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Queued == nil {
		opts.Queued = func() {}
	}
	return &Scheduler{opts: opts, now: opts.Now, parsed: map[string]*cron.Schedule{}}
}

// Lead makes a pass every Interval until ctx ends, each write fenced by fence (the zero
// Fence when one server owns the store). A failed pass is logged and retried at the next
// tick; nothing is lost, because the cursor only moves with the runs it covers.
func (s *Scheduler) Lead(ctx context.Context, fence store.Fence) error {
	// A new leader settles group runs first: a safety net, since a child's end settles
	// its group as it happens.
	if n, err := s.opts.Store.GroupReconcile(ctx, s.now().UTC()); err != nil {
		s.opts.Logger.Error("reconcile group runs", "err", err)
	} else if n > 0 {
		s.opts.Logger.Warn("group runs reconciled", "changed", n)
		s.opts.Queued()
	}
	// And fires what ends of upstream runs should have fired (a safety net too).
	if n, err := s.opts.Store.TriggerReconcile(ctx, s.now().UTC()); err != nil {
		s.opts.Logger.Error("reconcile triggers", "err", err)
	} else if n > 0 {
		s.opts.Logger.Warn("triggers reconciled", "started", n)
		s.opts.Queued()
	}
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		if err := s.Pass(ctx, fence); err != nil && ctx.Err() == nil {
			s.opts.Logger.Error("schedule pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// passBatch is how many due jobs one transaction records: at a busy minute boundary the
// first runs are in the queue, and the dispatcher woken, while later jobs are planned.
const passBatch = 500

// Pass records the due slots of every job that is due, once, fenced by fence. It reads
// only the jobs whose next slot has come (or whose schedule is new), a batch at a time.
func (s *Scheduler) Pass(ctx context.Context, fence store.Fence) error {
	now := s.now().UTC()
	var (
		afterDue time.Time
		after    string
		errs     []error
	)
	for {
		defs, err := s.opts.Store.DefinitionDue(ctx, now, afterDue, after, passBatch)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if len(defs) == 0 {
			break
		}
		last := defs[len(defs)-1]
		afterDue, after = *last.NextDue, last.Name
		lost, err := s.record(ctx, fence, now, defs)
		if err != nil {
			errs = append(errs, err)
		}
		if lost || len(defs) < passBatch {
			break
		}
	}
	return errors.Join(errs...)
}

// record plans the due slots of defs and stores them in one transaction. It reports
// whether the lease's term is over (nothing was stored, and nothing more may be).
func (s *Scheduler) record(ctx context.Context, fence store.Fence, now time.Time, defs []job.Definition) (bool, error) {
	type planned struct {
		def   job.Definition
		slots []time.Time
		more  bool
		sched *cron.Schedule
	}
	var (
		plans  []planned
		busy   []string // jobs with slots due, whose unfinished runs the plans need
		errs   []error
		cancel []string
	)
	for _, def := range defs {
		p := planned{def: def}
		if def.Schedule != "" {
			sched, err := s.schedule(def.Schedule)
			if err != nil {
				// Definitions are validated when applied, so this is a stored expression
				// a newer parser rejects: say so, and look again in an hour.
				s.opts.Logger.Error("unparseable schedule", "job", def.Name, "schedule", def.Schedule, "err", err)
			}
			p.sched = sched
		}
		if p.sched != nil {
			p.slots, p.more = p.sched.Between(def.ScheduledThrough, now, def.Location(), maxSlotsPerPass)
			for i := range p.slots {
				p.slots[i] = p.slots[i].UTC()
			}
		}
		if len(p.slots) > 0 {
			busy = append(busy, def.Name)
		}
		plans = append(plans, p)
	}
	unfinished, err := s.opts.Store.RunUnfinished(ctx, busy)
	if err != nil {
		return false, err
	}
	jobs := make([]store.Slots, 0, len(plans))
	for _, p := range plans {
		js := store.Slots{Job: p.def.Name, From: p.def.ScheduledThrough, Through: now}
		switch {
		case p.def.Schedule == "":
			// Never due: nothing fires.
		case p.sched == nil:
			next := now.Add(time.Hour)
			js.Through, js.Next = p.def.ScheduledThrough, &next
		default:
			plan := PlanSlots(p.def, p.slots, p.more, unfinished[p.def.Name], now, s.opts.Grace)
			if plan.Dropped {
				s.opts.Logger.Warn("slots too old to record", "job", p.def.Name, "recorded", len(plan.Runs), "since", p.def.ScheduledThrough)
			}
			js.Through, js.Runs, js.Events = plan.Through, plan.Runs, plan.Events
			cancel = append(cancel, plan.Cancel...)
			next := p.sched.Next(plan.Through, p.def.Location())
			if next.IsZero() {
				next = now.Add(horizon) // fires later than Next looks: look again then
			}
			next = next.UTC()
			js.Next = &next
		}
		jobs = append(jobs, js)
	}
	// Under a leader lease (servers sharing a database) the write is fenced by its term.
	recorded, err := s.opts.Store.SlotsRecord(ctx, fence, jobs)
	if errors.Is(err, job.ErrConflict) {
		// This server's lease term ended: the next leader records these slots.
		return true, nil
	}
	if err != nil {
		return false, err
	}
	stored := make(map[string]bool, len(recorded))
	for _, name := range recorded {
		stored[name] = true
	}
	queued := false
	for _, js := range jobs {
		if !stored[js.Job] || len(js.Runs) == 0 {
			continue
		}
		if s.opts.Recorded != nil {
			s.opts.Recorded(js.Runs)
		}
		for _, r := range js.Runs {
			queued = queued || r.State == job.StateQueued
			s.opts.Logger.Info("slot recorded", "job", js.Job, "run_id", r.ID, "slot", r.ScheduledTime, "state", r.State, "reason", r.Reason)
		}
	}
	if queued {
		s.opts.Queued()
	}
	for _, id := range cancel {
		if _, err := s.opts.Canceller.Cancel(ctx, id, "the scheduler (concurrency: replace)"); err != nil && !errors.Is(err, job.ErrConflict) {
			errs = append(errs, fmt.Errorf("replace run %s: %w", id, err))
		}
	}
	return false, errors.Join(errs...)
}

// horizon is when a job whose schedule fires nowhere in the next years (cron.Schedule.Next
// looks five years ahead) is looked at again.
const horizon = 365 * 24 * time.Hour

// schedule returns the parsed expression, from the cache when it was seen before.
func (s *Scheduler) schedule(expr string) (*cron.Schedule, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc, ok := s.parsed[expr]; ok {
		return sc, nil
	}
	sc, err := cron.Parse(expr)
	if err != nil {
		return nil, err
	}
	s.parsed[expr] = sc
	return sc, nil
}
