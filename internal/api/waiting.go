package api

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// waitFacts are what a run that is not moving may be waiting for, read from the store.
type waitFacts struct {
	// suspended: the run's job is suspended, which holds its queued runs.
	suspended bool
	// queue is the run's queue (nil for the default queue, or one deleted since), with
	// what it holds now and the starts its rate allows now.
	queue  *job.Queue
	stats  job.QueueStats
	tokens float64
	// busy is an active run of the job that an exclusive run (concurrency forbid) waits
	// for: none of its own group.
	busy *job.Run
	// needs are the states of the steps a waiting child needs, by step.
	needs map[string]job.State
	// last is the run's newest event (for a pending run, the executor's notice of why).
	last *job.Event
}

// waitingFor says, in one sentence, why r is not moving, from the facts; "" for a run
// that is moving or has ended.
func waitingFor(r job.Run, f waitFacts, now time.Time) string {
	switch r.State {
	case job.StateWaiting:
		var open []string
		for _, step := range r.Needs {
			st, ok := f.needs[step]
			if !ok {
				st = job.StateWaiting
			}
			if !st.Terminal() {
				open = append(open, fmt.Sprintf("%s (%s)", step, st))
			}
		}
		if len(open) == 0 {
			return "its needs have ended; it is being released"
		}
		return "needs " + strings.Join(open, ", ")
	case job.StateQueued:
		switch {
		case f.suspended:
			return "job is suspended"
		case f.queue != nil && f.queue.Disabled:
			return fmt.Sprintf("queue %s is disabled", f.queue.Name)
		case r.NotBefore.After(now):
			return "retry backoff until " + r.NotBefore.UTC().Format(time.TimeOnly)
		case f.busy != nil:
			return fmt.Sprintf("run %s of job %s to end (%s; concurrency forbid runs one at a time)", f.busy.ID, r.Job, f.busy.State)
		case f.queue != nil && f.queue.MaxRunning > 0 && f.stats.Running >= f.queue.MaxRunning:
			return fmt.Sprintf("queue %s is full (%d of %d running)", f.queue.Name, f.stats.Running, f.queue.MaxRunning)
		case f.queue != nil && f.queue.MaxStartsPerSecond > 0 && f.tokens < 1:
			return fmt.Sprintf("queue %s is rate limited (%s)", f.queue.Name, job.RateText(f.queue.MaxStartsPerSecond))
		case f.queue != nil:
			return fmt.Sprintf("its turn in queue %s (%d running, %d queued)", f.queue.Name, f.stats.Running, f.stats.Queued)
		}
		return fmt.Sprintf("a free slot on a server (default queue: %d running, %d queued)", f.stats.Running, f.stats.Queued)
	case job.StateDispatched:
		return "its executor to start it"
	case job.StatePending:
		if f.last != nil && f.last.Reason == job.ReasonUnschedulable {
			return f.last.Message
		}
		if f.last != nil && f.last.Message != "" {
			return "its pod to start: " + f.last.Message
		}
		return "its pod to start"
	}
	return ""
}

// maxSiblings bounds how many of a job's newest runs are read to find a waiting child's
// needs.
const maxSiblings = store.MaxLimit

// waitFactsOf reads what waitingFor needs for r; nothing for a run that is moving.
func (a *API) waitFactsOf(ctx context.Context, r job.Run) (waitFacts, error) {
	var f waitFacts
	switch r.State {
	case job.StateWaiting:
		if r.Parent == "" || len(r.Needs) == 0 {
			return f, nil
		}
		runs, _, err := a.opts.Store.RunList(ctx, store.RunFilter{Job: r.Job, Limit: maxSiblings})
		if err != nil {
			return f, err
		}
		f.needs = map[string]job.State{}
		attempt := map[string]int{}
		for _, s := range runs {
			if s.Parent == r.Parent && slices.Contains(r.Needs, s.Step) && s.Attempt > attempt[s.Step] {
				f.needs[s.Step], attempt[s.Step] = s.State, s.Attempt
			}
		}
	case job.StateQueued:
		def, err := a.opts.Store.DefinitionGet(ctx, r.Job)
		if err == nil && def.Suspended {
			f.suspended = true
			return f, nil
		}
		if r.Exclusive {
			active, _, err := a.opts.Store.RunList(ctx, store.RunFilter{Job: r.Job, States: job.ActiveStates, Limit: maxSiblings})
			if err != nil {
				return f, err
			}
			for _, o := range active {
				if o.ID != r.ID && o.ID != r.Parent && (r.Parent == "" || o.Parent != r.Parent) {
					f.busy = &o
					break
				}
			}
		}
		stats, err := a.opts.Store.QueueStats(ctx, r.Queue)
		if err != nil {
			return f, err
		}
		f.stats = stats[r.Queue]
		if r.Queue == job.DefaultQueue {
			return f, nil
		}
		q, err := a.opts.Store.QueueGet(ctx, r.Queue)
		if err != nil {
			return f, nil // deleted since: it limits nothing
		}
		f.queue = &q
		if f.tokens, err = a.opts.Store.QueueTokens(ctx, r.Queue, a.now().UTC()); err != nil {
			return f, err
		}
	case job.StatePending:
		evs, err := a.opts.Store.EventList(ctx, r.ID)
		if err != nil {
			return f, err
		}
		if len(evs) > 0 {
			f.last = &evs[len(evs)-1]
		}
	}
	return f, nil
}

// withWaitingFor sets r.WaitingFor.
func (a *API) withWaitingFor(ctx context.Context, r job.Run) (job.Run, error) {
	f, err := a.waitFactsOf(ctx, r)
	if err != nil {
		return r, err
	}
	r.WaitingFor = waitingFor(r, f, a.now().UTC())
	return r, nil
}
