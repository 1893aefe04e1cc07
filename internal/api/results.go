package api

import (
	"fmt"
	"net/http"
	"strconv"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// The array results GET /runs/{id}/results answers.
type (
	TaskResult = job.TaskResult
	Results    = job.Results
	Progress   = job.Progress
)

// Result pages: 100 tasks unless asked, at most 1000.
const (
	defaultResults = 100
	maxResults     = 1000
)

// getResults answers a page of an array run's tasks in index order, after the index
// ?after= names (-1, the default, starts at task 0).
func (a *API) getResults(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	q := r.URL.Query()
	after, limit := -1, defaultResults
	if s := q.Get("after"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < -1 || n >= job.MaxTasks {
			writeError(w, r, a.opts.Logger, invalid("after", fmt.Sprintf("%q is not a task index (-1 to %d)", s, job.MaxTasks-1)))
			return
		}
		after = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > maxResults {
			writeError(w, r, a.opts.Logger, invalid("limit", fmt.Sprintf("%q is not a number from 0 to %d", s, maxResults)))
			return
		}
		limit = n
	}
	run, err := a.opts.Store.RunGet(ctx, id)
	if err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	if run.Kind != job.KindArray || run.Group == nil {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusConflict, code: "not_array",
			msg: fmt.Sprintf("run %s is no array run; its result is at GET /api/v1/runs/%s/report", id, id)})
		return
	}
	states, err := a.opts.Store.GroupStates(ctx, id)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	g := run.Group
	out := Results{RunID: run.ID, State: run.State, Results: []TaskResult{}, Progress: Progress{Size: g.Size, Succeeded: g.Succeeded, Failed: g.Failed, Ended: g.Ended,
		Running: states[job.StateDispatched] + states[job.StatePending] + states[job.StateRunning], Queued: states[job.StateQueued] + states[job.StateWaiting]}}
	if limit > 0 {
		tasks, err := a.opts.Store.TaskResults(ctx, id, after, limit)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		ids := make([]string, len(tasks))
		for i, t := range tasks {
			ids[i] = t.Run.ID
		}
		files, err := a.opts.Store.RunFilesOf(ctx, store.FileOutput, ids)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		for _, t := range tasks {
			tr := TaskResult{Files: files[t.Run.ID], Index: *t.Run.TaskIndex, Input: t.Run.Input, State: t.Run.State, ExitCode: t.Run.ExitCode, Result: t.Result,
				RunID: t.Run.ID, Attempt: t.Run.Attempt}
			if tr.Files == nil {
				tr.Files = []job.File{}
			}
			if t.Run.State != job.StateSucceeded {
				tr.Message = t.Run.Message
			}
			out.Results = append(out.Results, tr)
		}
		if len(tasks) == limit && *tasks[len(tasks)-1].Run.TaskIndex < g.Size-1 {
			next := *tasks[len(tasks)-1].Run.TaskIndex
			out.NextAfter = &next
		}
	}
	writeJSON(w, r, http.StatusOK, out)
}
