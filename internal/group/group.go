// Package group holds the rules of group runs, workflows and arrays alike: a group run
// runs nothing itself; its children are ordinary runs, and the group's state follows
// theirs. The rules are pure functions of the runs involved: which waiting children a
// child's end releases (queued) or skips, what a group's counters become, and how the
// group ends. The store applies them in the transaction that ends a child, so a crash
// cannot separate an end from what it causes.
package group

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"docket.dev/docket/internal/job"
)

// Change is a guarded state change of one child that the rules decided.
type Change struct {
	RunID    string
	From, To job.State
	Reason   job.Reason
	Message  string
}

// Latest returns, for each key (step or task), the child of the newest attempt.
func Latest(children []job.Run) map[string]job.Run {
	latest := make(map[string]job.Run, len(children))
	for _, c := range children {
		if prev, ok := latest[c.Key()]; !ok || c.Attempt > prev.Attempt {
			latest[c.Key()] = c
		}
	}
	return latest
}

// Release decides what becomes of a workflow's waiting children, given the newest
// attempt of every child by step. A waiting child whose needs have all ended is queued
// when they all succeeded, or when it runs always; otherwise it is skipped, naming the
// step that did not succeed. In a group someone cancelled (by), a waiting child that does
// not run always is skipped at once. Changes come in step order.
func Release(latest map[string]job.Run, by string) []Change {
	var out []Change
	for _, step := range slices.Sorted(mapsKeys(latest)) {
		c := latest[step]
		if c.State != job.StateWaiting {
			continue
		}
		if by != "" && !c.Always {
			out = append(out, Change{RunID: c.ID, From: job.StateWaiting, To: job.StateSkipped, Reason: job.ReasonCancelled,
				Message: "not run: the workflow was cancelled by " + by})
			continue
		}
		ended, blocker := weigh(c.Needs, latest, "step ", false)
		switch {
		case !ended:
		case blocker == "" || c.Always:
			msg := "its needs succeeded"
			if len(c.Needs) == 0 {
				msg = "it needs no other step"
			} else if blocker != "" {
				msg = "its needs ended (" + blocker + "), and it runs always"
			}
			out = append(out, Change{RunID: c.ID, From: job.StateWaiting, To: job.StateQueued, Reason: job.ReasonReady, Message: "queued: " + msg})
		default:
			out = append(out, Change{RunID: c.ID, From: job.StateWaiting, To: job.StateSkipped, Reason: job.ReasonUpstreamFailed, Message: "not run: " + blocker})
		}
	}
	return out
}

// weigh looks at the newest attempt of each of needs, named by prefix+key ("step train",
// "run 01J..."): ended is false while one has not ended, and blocker names the first
// that ended otherwise than succeeded ("step train failed"). A need not in newest has
// not started yet (a step), or, with goneBlocks, is gone and blocks (a run waited for
// across submissions). A workflow's step needs and a run's waits for other runs are both
// decided here.
func weigh(needs []string, newest map[string]job.Run, prefix string, goneBlocks bool) (ended bool, blocker string) {
	ended = true
	for _, need := range needs {
		n, ok := newest[need]
		switch {
		case !ok && goneBlocks:
			if blocker == "" {
				blocker = prefix + need + " is gone"
			}
		case !ok || !n.State.Terminal():
			ended = false
		case n.State != job.StateSucceeded && blocker == "":
			blocker = prefix + need + " " + endedHow(n)
		}
	}
	return ended, blocker
}

// endedHow says how a run that did not succeed ended: "failed", "was cancelled".
func endedHow(r job.Run) string {
	switch r.State {
	case job.StateFailed:
		return "failed"
	case job.StateCancelled:
		return "was cancelled"
	}
	return "was " + string(r.State)
}

// InitialState is the state a new child of a workflow starts in: queued when it needs no
// other step, else waiting.
func InitialState(needs []string) job.State {
	if len(needs) == 0 {
		return job.StateQueued
	}
	return job.StateWaiting
}

// Count adds a child that ended for good (no retry to come) to its group's counters.
func Count(g *job.Group, child job.State) {
	g.Ended++
	switch child {
	case job.StateSucceeded:
		g.Succeeded++
	case job.StateFailed:
		g.Failed++
	}
}

// Overflowing reports whether an array has more failed tasks than it tolerates, so the
// rest of it is to be cancelled.
func Overflowing(g job.Group) bool {
	return g.MaxFailed != nil && g.Failed > *g.MaxFailed
}

// Outcome is how a group run ends once all its children have: cancelled when someone
// cancelled it; succeeded when every child succeeded (or, for an array, no more failed
// than it tolerates); failed otherwise. failed holds some of the children that failed
// for good (or, with none, that were cancelled), for the message, which names them and
// why; of is how many children are in their state.
func Outcome(parent job.Run, failed []job.Run, of int) (job.State, job.Reason, string) {
	g := *parent.Group
	summary := Summary(parent.Kind, g)
	switch {
	case parent.CancelledBy != "":
		return job.StateCancelled, job.ReasonCancelled, "cancelled by " + parent.CancelledBy + "; " + summary
	case g.Succeeded == g.Size, parent.Kind == job.KindArray && g.MaxFailed != nil && g.Failed <= *g.MaxFailed && g.Succeeded+g.Failed == g.Size:
		return job.StateSucceeded, job.ReasonCompleted, summary
	}
	var why []string
	for _, f := range failed {
		why = append(why, fmt.Sprintf("%s: %s", name(parent.Kind, f), f.Message))
	}
	msg := summary
	if len(why) > 0 {
		msg += "; " + strings.Join(why, "; ")
		if of > len(why) {
			msg += fmt.Sprintf("; and %d more", of-len(why))
		}
	}
	reason := job.ReasonStepFailed
	if parent.Kind == job.KindArray {
		reason = job.ReasonTasksFailed
	}
	return job.StateFailed, reason, msg
}

// name is how a message names a child: "step train", "task 7".
func name(kind job.Kind, c job.Run) string {
	if kind == job.KindArray {
		return "task " + c.Key()
	}
	return "step " + c.Key()
}

// Summary is a group's progress in words: "3/6 succeeded, 1 failed, 2 other".
func Summary(kind job.Kind, g job.Group) string {
	noun := "steps"
	if kind == job.KindArray {
		noun = "tasks"
	}
	s := fmt.Sprintf("%d/%d %s succeeded", g.Succeeded, g.Size, noun)
	if g.Failed > 0 {
		s += fmt.Sprintf(", %d failed", g.Failed)
	}
	if other := g.Ended - g.Succeeded - g.Failed; other > 0 {
		s += fmt.Sprintf(", %d cancelled or skipped", other)
	}
	if left := g.Size - g.Ended; left > 0 && g.Ended > 0 {
		s += fmt.Sprintf(", %d to go", left)
	}
	return s
}

func mapsKeys(m map[string]job.Run) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// MaxCopied bounds what one submission repeats in a group run's children: each child
// carries its group's env, params and overrides, so what the submission sets of them,
// times the children, is what it stores.
const MaxCopied = 16 << 20

// CheckCopies refuses a submission's env, params and overrides (what it sets of them, in
// set) copied into each of size children past MaxCopied. field names the largest of the
// three (env, params or overrides), which the error is most likely about.
func CheckCopies(set job.Run, size int) (field string, err error) {
	if size == 0 {
		return "", nil
	}
	parts := map[string]any{"env": set.Env, "params": set.Params, "overrides": set.Overrides}
	total, most := 0, 0
	for _, name := range []string{"env", "params", "overrides"} {
		b, err := json.Marshal(parts[name])
		if err != nil {
			return name, err
		}
		if total += len(b); len(b) > most {
			field, most = name, len(b)
		}
	}
	if total*size > MaxCopied {
		return field, fmt.Errorf("the run's env, params and overrides (%d bytes, most of it %s) go to each of its %d children, %d bytes in all; at most %d: pass large values as a file",
			total, field, size, total*size, MaxCopied)
	}
	return "", nil
}

// Expand makes parent a group run of spec and returns its children with their first
// events: one per step of a workflow (queued when it needs no other step, else waiting),
// or one per task of an array of tasks tasks (inputs, when given, one per task). The
// children are runs of the same job and revision, made at the parent's creation. A spec
// with neither steps nor tasks leaves parent as it is and has no children.
func Expand(parent *job.Run, spec job.Spec, tasks int, inputs []string) ([]job.Run, []job.Event) {
	kind := job.KindWorkflow
	size := len(spec.Steps)
	switch {
	case size > 0:
	case tasks > 0 || len(inputs) > 0:
		kind, size = job.KindArray, max(tasks, len(inputs))
	default:
		return nil, nil
	}
	parent.Kind = kind
	parent.Group = &job.Group{Size: size, Parallelism: spec.Parallelism, MaxFailed: spec.MaxFailed}
	now := parent.CreatedAt
	child := func(state job.State, reason job.Reason, msg string) job.Run {
		c := job.NewRun(parent.Job, parent.Revision, job.TriggerGroup, now)
		c.State, c.Reason, c.Message = state, reason, msg
		c.ScheduledTime, c.Env, c.Exclusive, c.Parent, c.Overrides = parent.ScheduledTime, parent.Env, parent.Exclusive, parent.ID, parent.Overrides
		c.Queue, c.Priority, c.Params = parent.Queue, parent.Priority, parent.Params
		return c
	}
	var runs []job.Run
	if kind == job.KindWorkflow {
		for _, st := range spec.Steps {
			state, reason, msg := InitialState(st.Needs), job.ReasonQueued, "step "+st.Name+" of workflow run "+parent.ID+": it needs no other step"
			if state == job.StateWaiting {
				reason, msg = job.ReasonWaiting, "step "+st.Name+" of workflow run "+parent.ID+": waiting for "+strings.Join(st.Needs, ", ")
			}
			c := child(state, reason, msg)
			c.Step, c.Needs, c.Always = st.Name, st.Needs, st.When == job.WhenAlways
			if st.Queue != "" {
				c.Queue = st.Queue // a step may run in a queue of its own
			}
			runs = append(runs, c)
		}
	} else {
		for i := range size {
			c := child(job.StateQueued, job.ReasonQueued, fmt.Sprintf("task %d of %d of array run %s", i, size, parent.ID))
			c.TaskIndex = &i
			if i < len(inputs) {
				c.Input = inputs[i]
			}
			runs = append(runs, c)
		}
	}
	events := make([]job.Event, len(runs))
	for i, r := range runs {
		events[i] = r.FirstEvent()
	}
	return runs, events
}
