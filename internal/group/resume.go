package group

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
)

// Resume plans a new run of a group that takes up old again (docket retry), from the
// children old had: each child, keyed by step or task index, is either carried over, when
// its newest attempt succeeded, again does not name its key and it needs no child that
// runs again (state succeeded, reason Reused, a link to the run it reuses, its exit code
// and times), or run again as a new first attempt. A child run again whose needs are all carried over is queued at once;
// the others wait, as in a new run. The new group run is linked to old (ResumedFrom),
// counts what it carries over as ended, and is queued; it and its children keep the
// queues, priority and params old and its children had. old's own rows stay as they were.
// It returns the new group run, its children and their first events (the group's first).
func Resume(old job.Run, children []job.Run, again map[string]bool, now time.Time) (job.Run, []job.Run, []job.Event) {
	parent := job.NewRun(old.Job, old.Revision, job.TriggerRetry, now)
	parent.Kind, parent.ScheduledTime, parent.Env, parent.Exclusive = old.Kind, old.ScheduledTime, old.Env, old.Exclusive
	parent.Attempt, parent.ResumedFrom, parent.Overrides = old.Attempt+1, old.ID, old.Overrides
	parent.Queue, parent.Priority, parent.Params = old.Queue, old.Priority, old.Params
	g := job.Group{Size: old.Group.Size, Parallelism: old.Group.Parallelism, MaxFailed: old.Group.MaxFailed}
	latest := Latest(children)
	first := map[string]string{} // the id of each child's first attempt: the order it was made in
	for _, c := range children {
		if id, ok := first[c.Key()]; !ok || c.ID < id {
			first[c.Key()] = c.ID
		}
	}
	keys := slices.SortedFunc(mapsKeys(latest), func(a, b string) int { return order(latest[a], latest[b], first) })
	// What runs again: what did not succeed, what again names, and all that needs them.
	rerun := map[string]bool{}
	for k, c := range latest {
		if c.State != job.StateSucceeded || again[k] {
			rerun[k] = true
		}
	}
	rerun = closure(latest, rerun)
	next := make(map[string]job.Run, len(latest))
	var runs []job.Run
	for _, k := range keys {
		was := latest[k]
		c := job.NewRun(old.Job, old.Revision, job.TriggerGroup, now)
		c.ScheduledTime, c.Env, c.Exclusive, c.Parent, c.Overrides = parent.ScheduledTime, parent.Env, parent.Exclusive, parent.ID, parent.Overrides
		c.Step, c.TaskIndex, c.Input, c.Needs, c.Always = was.Step, was.TaskIndex, was.Input, was.Needs, was.Always
		c.Queue, c.Priority, c.Params = was.Queue, was.Priority, was.Params // a step may have a queue of its own
		who := name(old.Kind, was)
		switch {
		case !rerun[k]:
			c.State, c.Reason, c.ReusedFrom = job.StateSucceeded, job.ReasonReused, was.ID
			c.Message = fmt.Sprintf("%s carried over: it succeeded in run %s of %s run %s", who, was.ID, old.Kind, old.ID)
			c.ExitCode, c.StartedAt, c.FinishedAt, c.Executor = was.ExitCode, was.StartedAt, was.FinishedAt, was.Executor
			Count(&g, job.StateSucceeded)
		case len(was.Needs) > 0:
			c.State, c.Reason = job.StateWaiting, job.ReasonWaiting
			c.Message = fmt.Sprintf("%s of %s run %s, resuming run %s: waiting for %s", who, old.Kind, parent.ID, old.ID, strings.Join(was.Needs, ", "))
		default:
			c.Reason = job.ReasonQueued
			c.Message = fmt.Sprintf("%s of %s run %s, resuming run %s: runs again", who, old.Kind, parent.ID, old.ID)
		}
		runs = append(runs, c)
		next[k] = c
	}
	// Children whose needs were all carried over need no end to release them.
	for _, ch := range Release(next, "") {
		for i := range runs {
			if runs[i].ID == ch.RunID {
				runs[i].State, runs[i].Reason = ch.To, ch.Reason
				runs[i].Message = fmt.Sprintf("%s of %s run %s, resuming run %s: %s", name(old.Kind, runs[i]), old.Kind, parent.ID, old.ID, ch.Message)
			}
		}
	}
	parent.Group = &g
	parent.Reason = job.ReasonResumed
	parent.Message = fmt.Sprintf("resumes %s run %s: %d of its %d %s carried over, %d to run again",
		old.Kind, old.ID, g.Succeeded, g.Size, nouns(old.Kind), g.Size-g.Succeeded)
	events := []job.Event{parent.FirstEvent()}
	for _, r := range runs {
		events = append(events, r.FirstEvent())
	}
	return parent, runs, events
}

// Downstream returns from and every child that needs it, directly or through others, by
// key: what `docket retry --from STEP` runs again whatever it did before.
func Downstream(children []job.Run, from string) map[string]bool {
	return closure(Latest(children), map[string]bool{from: true})
}

// closure adds to out every child that needs one in it, directly or through others.
func closure(latest map[string]job.Run, out map[string]bool) map[string]bool {
	for changed := true; changed; {
		changed = false
		for k, c := range latest {
			if out[k] {
				continue
			}
			for _, n := range c.Needs {
				if out[n] {
					out[k], changed = true, true
					break
				}
			}
		}
	}
	return out
}

// order sorts children as a group lists them: tasks by index, steps as the definition
// wrote them (their ids were made in that order).
func order(a, b job.Run, first map[string]string) int {
	if a.TaskIndex != nil && b.TaskIndex != nil {
		return *a.TaskIndex - *b.TaskIndex
	}
	return strings.Compare(first[a.Key()], first[b.Key()])
}

func nouns(kind job.Kind) string {
	if kind == job.KindArray {
		return "tasks"
	}
	return "steps"
}
