package alert

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"docket.dev/docket/internal/job"
)

// Store is what the dead man's switch reads.
type Store interface {
	DefinitionList(ctx context.Context) ([]job.Definition, error)
	RunLatest(ctx context.Context, states ...job.State) (map[string]job.Run, error)
	SettingInit(ctx context.Context, name, value string) (string, error)
}

// DeadMan alerts when a job whose definition sets expect_success_within has had no
// successful run for that long (counted from its last success, or from when it was
// created). It alerts once per silence: again only after a success ends it. Which silences
// were alerted is kept in the store, so a restarted server, or another one taking over the
// check, does not alert again. Suspended jobs are not watched.
type DeadMan struct {
	Store    Store
	Notifier *Notifier
	// Interval is how often jobs are checked; default one minute.
	Interval time.Duration
	Logger   *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time

	// alerted maps a job to the start of the silence it was alerted for.
	alerted map[string]time.Time
}

// Run checks every Interval until ctx ends.
func (d *DeadMan) Run(ctx context.Context) error {
	interval := d.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := d.Check(ctx); err != nil && ctx.Err() == nil {
			d.Logger.Warn("dead man's switch check failed; trying again later", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// firstToAlert records in the store that the silence of job that began at since is being
// alerted at t, and says whether this is the first time: a server that took over the check
// finds the record of its predecessor.
func (d *DeadMan) firstToAlert(ctx context.Context, name string, since, t time.Time) (bool, error) {
	mark := t.Format(time.RFC3339Nano)
	stored, err := d.Store.SettingInit(ctx, "alerted/no_success/"+name+"/"+since.UTC().Format(time.RFC3339Nano), mark)
	if err != nil {
		return false, fmt.Errorf("record the alert of %s: %w", name, err)
	}
	return stored == mark, nil
}

// Check looks at every watched job once.
func (d *DeadMan) Check(ctx context.Context) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if d.alerted == nil {
		d.alerted = map[string]time.Time{}
	}
	defs, err := d.Store.DefinitionList(ctx)
	if err != nil {
		return err
	}
	var watched []job.Definition
	for _, def := range defs {
		if def.ExpectSuccessWithin > 0 && !def.Suspended {
			watched = append(watched, def)
		}
	}
	if len(watched) == 0 {
		return nil
	}
	successes, err := d.Store.RunLatest(ctx, job.StateSucceeded)
	if err != nil {
		return err
	}
	t := now().UTC()
	for _, def := range watched {
		since, what := def.CreatedAt, "since the job was created"
		if r, ok := successes[def.Name]; ok && r.FinishedAt != nil {
			since, what = *r.FinishedAt, "since its last success (run "+r.ID+")"
		}
		window := time.Duration(def.ExpectSuccessWithin)
		if t.Sub(since) < window || d.alerted[def.Name].Equal(since) {
			continue
		}
		first, err := d.firstToAlert(ctx, def.Name, since, t)
		if err != nil {
			return err
		}
		d.alerted[def.Name] = since
		if !first {
			continue
		}
		d.Notifier.Notify(Alert{
			Kind: NoSuccess, Job: def.Name, Reason: "NoSuccess", Time: t,
			Message: fmt.Sprintf("no run has succeeded for %s %s, and the job expects a success within %s",
				job.Duration(t.Sub(since).Round(time.Second)), what, def.ExpectSuccessWithin),
		})
	}
	return nil
}
