// Package record is the last stage of Docket's flow: it turns what executors and watchers
// report into guarded state transitions with their events, queues the retry of a failed run
// in the same transaction, and keeps the runs' logs.
package record

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"docket.dev/docket/internal/job"
)

// Store is what the recorder needs of the store.
type Store interface {
	RunGet(ctx context.Context, id string) (job.Run, error)
	RunTransition(ctx context.Context, t job.Transition) (job.Run, error)
	EventAppend(ctx context.Context, ev job.Event) error
	DefinitionRevision(ctx context.Context, name string, revision int) (job.Definition, error)
}

// Options configures a Recorder.
type Options struct {
	Store  Store
	Logger *slog.Logger
	// RetryBackoff is the wait before the first retry; it doubles with each attempt, up to
	// MaxRetryBackoff.
	RetryBackoff time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Queued is called when a retry was queued, or a run of a named queue ended, to wake
	// the dispatcher.
	Queued func()
	// Transitioned, if set, is told each run as it stands after a state change recorded
	// here, with the run queued to retry it, if any.
	Transitioned func(run job.Run, retry *job.Run)
}

// MaxRetryBackoff caps the wait between attempts.
const MaxRetryBackoff = 10 * time.Minute

// Recorder records what happens to runs.
type Recorder struct {
	opts  Options
	now   func() time.Time
	batch *batcher // nil when the store writes one transition at a time
}

// New returns a Recorder.
func New(opts Options) *Recorder {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Queued == nil {
		opts.Queued = func() {}
	}
	if opts.Transitioned == nil {
		opts.Transitioned = func(job.Run, *job.Run) {}
	}
	r := &Recorder{opts: opts, now: opts.Now}
	if bs, ok := opts.Store.(BatchStore); ok {
		r.batch = &batcher{store: bs, busyGap: busyGap, linger: linger}
	}
	return r
}

// Report records an update: a notice becomes an event; a state change becomes a guarded
// transition from the run's current state, with the update's notes. A repeated update, or
// one for a run that is already terminal, changes nothing. A failure with attempts left
// queues the retry in the same transaction. An update whose From the run has left is a
// job.ErrConflict.
func (r *Recorder) Report(ctx context.Context, u job.Update) error {
	if u.Time.IsZero() {
		u.Time = r.now().UTC()
	}
	if u.State == "" {
		return r.opts.Store.EventAppend(ctx, job.Event{RunID: u.RunID, Time: u.Time, Reason: u.Reason, Message: u.Message})
	}
	t := job.Transition{
		RunID: u.RunID, From: u.From, To: u.State, Time: u.Time,
		Reason: u.Reason, Message: u.Message, ExitCode: u.ExitCode, Notes: u.Notes,
	}
	if u.Start != nil {
		st := *u.Start
		if st.Time.IsZero() {
			st.Time = u.Time
		}
		t.Before = &job.Transition{RunID: u.RunID, To: st.State, Time: st.Time, Reason: st.Reason, Message: st.Message, Notes: st.Notes}
		t.From = ""
	}
	if u.State != job.StateFailed {
		// Nothing to decide from the run as it stands: the store moves it from whatever
		// state may lead to u.State, and only a change that did not apply is read back.
		stored, err := r.write(ctx, t)
		if errors.Is(err, job.ErrConflict) && u.From == "" {
			return r.unchanged(ctx, u)
		}
		if err != nil {
			return fmt.Errorf("record update: %w", err)
		}
		r.transitioned(stored, t, nil)
		r.freed(stored)
		return nil
	}
	// A failure's retry depends on the run (its attempt, a cancel request): read it, and
	// read it again when the guard loses a race with another writer.
	for range 3 {
		run, err := r.opts.Store.RunGet(ctx, u.RunID)
		if err != nil {
			return fmt.Errorf("record update: %w", err)
		}
		if u.From != "" && run.State != u.From {
			return fmt.Errorf("record update: run %s is %s, no longer %s: %w", run.ID, run.State, u.From, job.ErrConflict)
		}
		if err := settled(run, u); err != nil || run.State.Terminal() {
			return err
		}
		if t.Before != nil {
			t.Before.From = run.State
		} else {
			t.From = run.State
		}
		if t.Then, err = r.retry(ctx, run, u); err != nil {
			return err
		}
		stored, err := r.opts.Store.RunTransition(ctx, t)
		if errors.Is(err, job.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("record update: %w", err)
		}
		r.transitioned(stored, t, t.Then)
		if t.Then != nil {
			r.opts.Queued()
		} else {
			r.freed(stored)
		}
		return nil
	}
	return fmt.Errorf("record update of run %s: %w", u.RunID, job.ErrConflict)
}

// write applies t, with the transitions of other runs reported meanwhile when the store
// can write them together.
func (r *Recorder) write(ctx context.Context, t job.Transition) (job.Run, error) {
	if r.batch == nil {
		return r.opts.Store.RunTransition(ctx, t)
	}
	return r.batch.transition(ctx, t, r.opts.Store.RunTransition)
}

// transitioned tells Options.Transitioned of each change t recorded: its Before first,
// with the run as that change left it, then t itself.
func (r *Recorder) transitioned(stored job.Run, t job.Transition, retry *job.Run) {
	if b := t.Before; b != nil {
		mid := stored
		mid.State, mid.Reason, mid.Message = b.To, b.Reason, b.Message
		mid.FinishedAt, mid.ExitCode = nil, nil
		r.opts.Transitioned(mid, nil)
	}
	r.opts.Transitioned(stored, retry)
}

// freed wakes the dispatcher when a run of a named queue ended: the queue may have room
// for the next of its runs now, rather than at the dispatcher's next tick.
func (r *Recorder) freed(run job.Run) {
	if run.Queue != job.DefaultQueue && run.State.Terminal() {
		r.opts.Queued()
	}
}

// unchanged decides about a state change the store did not apply, from the run as it now
// stands: nil when the run is in that state already, or ended and the update is an end
// too (a repeated or late report); job.ErrConflict otherwise.
func (r *Recorder) unchanged(ctx context.Context, u job.Update) error {
	run, err := r.opts.Store.RunGet(ctx, u.RunID)
	if err != nil {
		return fmt.Errorf("record update: %w", err)
	}
	if err := settled(run, u); err != nil || run.State.Terminal() || run.State == u.State {
		return err
	}
	return fmt.Errorf("record update: run %s cannot move from %s to %s: %w", run.ID, run.State, u.State, job.ErrConflict)
}

// settled says whether u has nothing left to change in run: nil when the run is in u's
// state already or ended and u is an end too; job.ErrConflict when the run ended and u
// would go on with it (an executor must not go on with a run that ended meanwhile, say
// cancelled while it was being started). It returns nil for a run u may still move.
func settled(run job.Run, u job.Update) error {
	if run.State.Terminal() && !u.State.Terminal() {
		return fmt.Errorf("record update: run %s is already %s: %w", run.ID, run.State, job.ErrConflict)
	}
	return nil
}

// retry returns the run that retries a failed one, or nil when no attempt is left or the
// failure is one a retry cannot mend.
func (r *Recorder) retry(ctx context.Context, run job.Run, u job.Update) (*job.Run, error) {
	if u.Reason.Permanent() || run.CancelledBy != "" {
		return nil, nil
	}
	def, err := r.opts.Store.DefinitionRevision(ctx, run.Job, run.Revision)
	if err != nil {
		return nil, fmt.Errorf("load revision %d of job %s: %w", run.Revision, run.Job, err)
	}
	spec := run.Overrides.Apply(def.ForStep(run.Step))
	retries := spec.Retries
	if run.Attempt > retries || !job.ShouldRetry(spec.RetryOn, u.ExitCode, u.Reason, u.Message) {
		return nil, nil
	}
	wait := Backoff(r.opts.RetryBackoff, run.Attempt)
	next := run.NextAttempt(u.Time, u.Time.Add(wait))
	next.Reason = job.ReasonRetrying
	next.Message = fmt.Sprintf("attempt %d of %d, retrying run %s after %s", run.Attempt+1, retries+1, run.ID, job.Duration(wait))
	return &next, nil
}

// Backoff is the wait before the retry of the given attempt: base, doubling with each
// attempt, at most MaxRetryBackoff.
func Backoff(base time.Duration, attempt int) time.Duration {
	wait := base
	for i := 1; i < attempt && wait < MaxRetryBackoff; i++ {
		wait *= 2
	}
	return min(wait, MaxRetryBackoff)
}
