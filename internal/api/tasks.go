package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"docket.dev/docket/internal/job"
)

// TaskResolver resolves a run into what an executor runs, as the dispatcher does when it
// starts the run (the dispatcher).
type TaskResolver interface {
	Execution(ctx context.Context, r job.Run) (job.Execution, error)
}

// TaskStart is what GET /runs/{id}/tasks/{index}/start answers a pod of an array's
// Indexed Job.
type TaskStart = job.TaskStart

// maxTaskAttempt bounds the attempt a pod may ask for (retries are capped far below it).
const maxTaskAttempt = 1000

// taskStart tells a pod of array run {id}'s Indexed Job, by its completion index and
// attempt, what to run: the attempt's command and env while it has not ended, skip once
// it succeeded, stop once it ended otherwise or will never be made, wait while the
// attempt before has not been recorded as ended (its retry is made in the same
// transaction).
func (a *API) taskStart(w http.ResponseWriter, r *http.Request) {
	out, err := a.resolveTaskStart(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	writeJSON(w, r, http.StatusOK, out)
}

func (a *API) resolveTaskStart(r *http.Request) (TaskStart, error) {
	ctx, id := r.Context(), r.PathValue("id")
	index, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || index < 0 || index >= job.MaxTasks {
		return TaskStart{}, invalid("index", fmt.Sprintf("%.20q is not a task index (0 to %d)", r.PathValue("index"), job.MaxTasks-1))
	}
	attempt := 1
	if s := r.URL.Query().Get("attempt"); s != "" {
		if attempt, err = strconv.Atoi(s); err != nil || attempt < 1 || attempt > maxTaskAttempt {
			return TaskStart{}, invalid("attempt", fmt.Sprintf("%.20q is not an attempt (1 to %d)", s, maxTaskAttempt))
		}
	}
	// The answer carries a run token: a team's token acts only for its team's runs.
	if err := a.mayChangeRun(ctx, id); err != nil {
		return TaskStart{}, runErr(id, err)
	}
	array, err := a.opts.Store.RunGet(ctx, id)
	if err != nil {
		return TaskStart{}, runErr(id, err)
	}
	if array.Kind != job.KindArray || array.Group == nil {
		return TaskStart{}, &statusError{status: http.StatusConflict, code: "not_array",
			msg: fmt.Sprintf("run %s is no array run; only an array's tasks start so", id)}
	}
	if index >= array.Group.Size {
		return TaskStart{}, invalid("index", fmt.Sprintf("%d is not a task of run %s, which has %d (0 to %d)", index, id, array.Group.Size, array.Group.Size-1))
	}
	first, err := a.opts.Store.RunTask(ctx, id, index)
	if errors.Is(err, job.ErrNotFound) {
		return TaskStart{}, &statusError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("run %s has no task %d", id, index)}
	}
	if err != nil {
		return TaskStart{}, err
	}
	attempts, err := a.opts.Store.RunAttempts(ctx, first.ID)
	if err != nil {
		return TaskStart{}, err
	}
	if attempt > len(attempts) {
		newest := attempts[len(attempts)-1]
		if !newest.State.Terminal() {
			return TaskStart{Action: job.TaskWait, RunID: newest.ID, Attempt: attempt,
				Message: fmt.Sprintf("task %d: attempt %d is %s; attempt %d is made once its end is recorded", index, len(attempts), newest.State, attempt)}, nil
		}
		return TaskStart{Action: job.TaskStop, RunID: newest.ID, Attempt: attempt,
			Message: fmt.Sprintf("task %d ended (%s) after attempt %d; attempt %d will not run", index, endedHow(newest), len(attempts), attempt)}, nil
	}
	run := attempts[attempt-1]
	switch {
	case run.State == job.StateSucceeded:
		msg := fmt.Sprintf("task %d attempt %d succeeded already", index, attempt)
		if run.Reason == job.ReasonReused {
			msg = fmt.Sprintf("task %d was carried over: it succeeded in run %s", index, run.ReusedFrom)
		}
		return TaskStart{Action: job.TaskSkip, RunID: run.ID, Attempt: attempt, Message: msg}, nil
	case run.State.Terminal():
		return TaskStart{Action: job.TaskStop, RunID: run.ID, Attempt: attempt,
			Message: fmt.Sprintf("task %d attempt %d ended (%s)", index, attempt, endedHow(run))}, nil
	}
	if a.opts.Tasks == nil {
		return TaskStart{}, &statusError{status: http.StatusNotImplemented, code: "not_implemented", msg: "this server does not start tasks"}
	}
	x, err := a.opts.Tasks.Execution(ctx, run)
	if err != nil {
		return TaskStart{}, &statusError{status: http.StatusConflict, code: "conflict",
			msg: fmt.Sprintf("task %d attempt %d (run %s) cannot be resolved: %v", index, attempt, run.ID, err)}
	}
	return TaskStart{Action: job.TaskRun, RunID: run.ID, Attempt: attempt, Command: x.Command, Env: x.Env, Inputs: len(x.Inputs)}, nil
}

// maxEndMessage bounds the part of a run's message a task start quotes.
const maxEndMessage = 200

// endedHow says how a run ended: its state, and its exit code or its reason and message.
func endedHow(r job.Run) string {
	how := string(r.State)
	switch {
	case r.ExitCode != nil:
		how += fmt.Sprintf(", exit code %d", *r.ExitCode)
	case r.Reason != "":
		how += ", " + string(r.Reason)
	}
	if r.Message != "" {
		msg := r.Message
		if len(msg) > maxEndMessage {
			cut := maxEndMessage
			for cut > 0 && !utf8.RuneStart(msg[cut]) {
				cut--
			}
			msg = msg[:cut] + "..."
		}
		how += ": " + msg
	}
	return how
}
