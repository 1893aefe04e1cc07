// Package schedule is the first stage of Docket's flow: it turns the due cron slots of every
// job into runs in the queue (the runs table), queued or skipped with the reason, and moves
// each job's cursor past them in the same transaction. A slot's run is keyed by (job, slot)
// under a unique index, so a restart or a second scheduler cannot fire a slot twice.
package schedule

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"docket.dev/docket/internal/cron"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// Store is what the scheduler needs of the store.
type Store interface {
	DefinitionList(ctx context.Context) ([]job.Definition, error)
	RunList(ctx context.Context, f store.RunFilter) ([]job.Run, string, error)
	SlotsRecord(ctx context.Context, fence store.Fence, name string, from, through time.Time, runs []job.Run, events []job.Event) error
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

// Pass records the due slots of every scheduled job once, fenced by fence.
func (s *Scheduler) Pass(ctx context.Context, fence store.Fence) error {
	defs, err := s.opts.Store.DefinitionList(ctx)
	if err != nil {
		return err
	}
	var errs []error
	queued := false
	for _, def := range defs {
		if def.Schedule == "" {
			continue
		}
		q, err := s.passJob(ctx, fence, def)
		if err != nil {
			errs = append(errs, err)
		}
		queued = queued || q
	}
	if queued {
		s.opts.Queued()
	}
	return errors.Join(errs...)
}

// passJob records one job's due slots and reports whether any run was queued.
func (s *Scheduler) passJob(ctx context.Context, fence store.Fence, def job.Definition) (bool, error) {
	sched, err := s.schedule(def.Schedule)
	if err != nil {
		// Definitions are validated when applied, so this is a stored expression a newer
		// parser rejects: say so once per pass and leave the job alone.
		s.opts.Logger.Error("unparseable schedule", "job", def.Name, "schedule", def.Schedule, "err", err)
		return false, nil
	}
	now := s.now().UTC()
	slots, dropped := sched.Between(def.ScheduledThrough, now, def.Location(), maxSlotsPerPass)
	if len(slots) == 0 {
		return false, nil
	}
	active, _, err := s.opts.Store.RunList(ctx, store.RunFilter{
		Job:    def.Name,
		States: []job.State{job.StateQueued, job.StateDispatched, job.StatePending, job.StateRunning},
		Limit:  store.MaxLimit,
	})
	if err != nil {
		return false, err
	}
	for i := range slots {
		slots[i] = slots[i].UTC()
	}
	p := PlanSlots(def, slots, dropped, active, now, s.opts.Grace)
	if p.Dropped {
		s.opts.Logger.Warn("slots too old to record", "job", def.Name, "recorded", len(p.Runs), "since", def.ScheduledThrough)
	}
	// Under a leader lease (servers sharing a database) the write is fenced by its term.
	err = s.opts.Store.SlotsRecord(ctx, fence, def.Name, def.ScheduledThrough, p.Through, p.Runs, p.Events)
	if errors.Is(err, job.ErrConflict) {
		// Another scheduler (or a definition update) moved the cursor, or this server's
		// lease term ended: the next pass starts from the new cursor, if it still runs.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if s.opts.Recorded != nil {
		s.opts.Recorded(p.Runs)
	}
	queued := false
	for _, r := range p.Runs {
		queued = queued || r.State == job.StateQueued
		s.opts.Logger.Info("slot recorded", "job", def.Name, "run_id", r.ID, "slot", r.ScheduledTime, "state", r.State, "reason", r.Reason)
	}
	for _, id := range p.Cancel {
		if _, err := s.opts.Canceller.Cancel(ctx, id, "the scheduler (concurrency: replace)"); err != nil && !errors.Is(err, job.ErrConflict) {
			s.opts.Logger.Error("replace run", "job", def.Name, "run_id", id, "err", err)
		}
	}
	return queued, nil
}

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
