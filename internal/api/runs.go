package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// submitRequest is the optional body of POST /jobs/{name}/runs (arrays.go has its
// array's part).
type submitRequest job.RunRequest

// submitShape describes a run request for decodeBody's errors.
var submitShape = bodyShape{name: "a run request", fields: "env, trigger, queue, priority, params, tasks, inputs, parallelism, max_failed, files and task_files",
	want: map[string]string{"env": "a mapping of names to strings", "trigger": "a string", "queue": "a string",
		"priority": "a whole number from 0 to 1000", "params": "a mapping of names to strings",
		"tasks": "a whole number", "inputs": "a list of strings", "parallelism": "a whole number", "max_failed": "a whole number",
		"files": "a list of files ({path, sha256, size, mode})", "task_files": "a list of files ({path, sha256, size, mode})"}}

// maxIdempotencyKey caps the Idempotency-Key header's length, and maxUser X-Docket-User's.
const (
	maxIdempotencyKey = 200
	maxUser           = 200
)

func (a *API) submitRun(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	dry, err := dryRun(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	req, err := decodeSubmit(w, r)
	if err == nil {
		err = runnerMaySend(r.Context(), req)
	}
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	key, err := headerText(r, "Idempotency-Key", maxIdempotencyKey)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	def, err := a.opts.Store.DefinitionGet(r.Context(), name)
	if err != nil {
		writeError(w, r, a.opts.Logger, jobErr(name, err))
		return
	}
	if err := mayChange(r.Context(), name, def.Labels); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	// The nodes may have changed since the job was applied.
	if err := a.admit(r.Context(), def.Spec); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if len(def.Steps) > 0 && (req.Tasks > 0 || len(req.Inputs) > 0) {
		writeError(w, r, a.opts.Logger, invalid("tasks", fmt.Sprintf("job %s is a workflow (it has steps); only a job without steps runs as an array", name)))
		return
	}
	if err := definition.CheckRunEnv(def.Spec, req.Env); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	seen, total := map[string]bool{}, int64(0)
	if err := a.checkFiles(r.Context(), "files", req.Files, seen, &total, dry, false); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if err := a.checkFiles(r.Context(), "task_files", req.TaskFiles, map[string]bool{}, &total, dry, true); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	run, err := a.newRun(r.Context(), def, req)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	run.IdempotencyKey = key
	run.Reason, run.Message = job.ReasonSubmitted, fmt.Sprintf("queued on request (%s)", req.Trigger)
	if def.Suspended {
		// The claim passes a suspended job's runs over: say so where the submitter looks.
		run.Message += fmt.Sprintf("; it waits while job %s is suspended (docket resume %s)", name, name)
	}
	// A workflow's or an array's run is a group run, made with its children.
	spec, tasks := req.applyArray(def.Spec)
	children, events := group.Expand(&run, spec, tasks, req.taskInputs())
	switch {
	case req.Parallelism > 0 && len(children) == 0:
		writeError(w, r, a.opts.Logger, invalid("parallelism", fmt.Sprintf("caps the tasks of an array or the steps of a workflow running at once, and a run of job %s is neither; give tasks or inputs with it", name)))
		return
	case req.MaxFailed != nil && run.Kind != job.KindArray:
		writeError(w, r, a.opts.Logger, invalid("max_failed", fmt.Sprintf("is the failed tasks an array tolerates, and a run of job %s is no array; give tasks or inputs with it", name)))
		return
	}
	// What the request sets is copied into each child; the job's own defaults are not its to answer for.
	if field, err := group.CheckCopies(job.Run{Env: req.Env, Params: req.Params, Overrides: run.Overrides}, len(children)); err != nil {
		writeError(w, r, a.opts.Logger, invalid(field, err.Error()))
		return
	}
	if dry {
		// The files the run, or its first task, would find placed.
		inputs := slices.Clone(req.Files)
		if len(req.TaskFiles) > 0 {
			inputs = append(inputs, req.TaskFiles[0])
		}
		a.previewRun(w, r, def, run, children, inputs)
		return
	}
	events = append([]job.Event{run.FirstEvent()}, events...)
	// The files are recorded first: a crash before the run is made leaves only rows that
	// name no run.
	if err := a.putInputs(r.Context(), run, children, req, run.CreatedAt); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	stored, created, err := a.opts.Store.RunCreateGroup(r.Context(), run, children, events)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	// A key names one request: used again with other parameters, it is a mistake that
	// returning the first run would hide (Stripe answers the same).
	sameFiles := true
	if !created {
		files, err := a.opts.Store.RunFiles(r.Context(), stored.ID, store.FileInput)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		sameFiles = fileSet(files) == fileSet(req.Files)
	}
	if !created && (stored.Trigger != req.Trigger || !maps.Equal(stored.Env, req.Env) || !sameGroup(stored, run) || !sameFiles ||
		stored.Queue != run.Queue || stored.Priority != run.Priority || !maps.Equal(stored.Params, run.Params)) {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusConflict, code: "conflict", field: "Idempotency-Key",
			msg: fmt.Sprintf("Idempotency-Key %q was used for run %s of job %s with another request (its env, trigger, queue, priority, params, files or array differ); send a new key for a new request", key, stored.ID, name)})
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		a.opts.Logger.Info("run submitted", "job", name, "run_id", stored.ID, "trigger", stored.Trigger)
		a.opts.Queued()
	}
	writeJSON(w, r, status, stored)
}

// fileSet is files as a comparable set: each path with its content, sorted.
func fileSet(files []job.File) string {
	set := make([]string, len(files))
	for i, f := range files {
		set[i] = f.Path + "\x00" + f.SHA256
	}
	slices.Sort(set)
	return strings.Join(set, "\n")
}

// decodeSubmit reads the optional submit body strictly and checks it.
func decodeSubmit(w http.ResponseWriter, r *http.Request) (submitRequest, error) {
	req := submitRequest{Trigger: job.TriggerAPI}
	body, err := readBodyUpTo(w, r, maxSubmitBody)
	if err != nil {
		return req, err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeBody(body, &req, submitShape); err != nil {
			return req, err
		}
	}
	switch req.Trigger {
	case "":
		req.Trigger = job.TriggerAPI
	case job.TriggerAPI, job.TriggerManual:
	default:
		return req, invalid("trigger", fmt.Sprintf("%q is not a trigger a request may use; use manual or api", req.Trigger))
	}
	if err := definition.ValidateEnv("env", req.Env); err != nil {
		return req, err
	}
	if req.Priority < 0 || req.Priority > job.MaxPriority {
		return req, invalid("priority", fmt.Sprintf("%d is not a number from 0 to %d", req.Priority, job.MaxPriority))
	}
	if req.Queue != "" && !definition.ValidQueueName(req.Queue) {
		return req, invalid("queue", fmt.Sprintf("%q is not a queue name", req.Queue))
	}
	return req, req.checkArray()
}

// newRun is the run a request makes of def, queued now: its queue (the request's, or
// the job's, which must exist), priority and params (the job's defaults under the
// request's values).
func (a *API) newRun(ctx context.Context, def job.Definition, req submitRequest) (job.Run, error) {
	params, err := definition.ResolveParams("params", def.Params, req.Params)
	if err != nil {
		return job.Run{}, err
	}
	queue := def.Queue
	if req.Queue != "" {
		queue = req.Queue
	}
	if queue != job.DefaultQueue {
		if _, err := a.opts.Store.QueueGet(ctx, queue); errors.Is(err, job.ErrNotFound) {
			return job.Run{}, invalid("queue", fmt.Sprintf("queue %q does not exist; create it first (docket queues set %s --max-running N)", queue, queue))
		} else if err != nil {
			return job.Run{}, err
		}
	}
	now := a.now().UTC()
	run := job.NewRun(def.Name, def.Revision, req.Trigger, now)
	run.Env, run.Exclusive = req.Env, def.Concurrency == job.ConcurrencyForbid
	run.Queue, run.Priority, run.Params = queue, req.Priority, params
	return run, nil
}

func (a *API) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.RunFilter{Job: q.Get("job"), Cursor: q.Get("cursor"), Parent: q.Get("parent"), TopLevel: q.Get("top") == "true"}
	if len(f.Parent) > maxIdempotencyKey {
		writeError(w, r, a.opts.Logger, invalid("parent", "is not a run id"))
		return
	}
	if s := q.Get("state"); s != "" {
		for _, st := range strings.Split(s, ",") {
			st := job.State(strings.TrimSpace(st))
			if !st.Valid() {
				writeError(w, r, a.opts.Logger, invalid("state", fmt.Sprintf("%q is not a run state; use one of %s", st, stateNames())))
				return
			}
			f.States = append(f.States, st)
		}
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > store.MaxLimit {
			writeError(w, r, a.opts.Logger, invalid("limit", fmt.Sprintf("%q is not a number from 1 to %d", s, store.MaxLimit)))
			return
		}
		f.Limit = n
	}
	runs, next, err := a.opts.Store.RunList(r.Context(), f)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if runs == nil {
		runs = []job.Run{}
	}
	writeJSON(w, r, http.StatusOK, runList{Runs: runs, NextCursor: next})
}

// stateNames lists the run states for an error message.
func stateNames() string {
	names := make([]string, len(job.States))
	for i, s := range job.States {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) {
	run, err := a.opts.Store.RunGet(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, a.opts.Logger, runErr(r.PathValue("id"), err))
		return
	}
	if run, err = a.withWaitingFor(r.Context(), run); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	writeJSON(w, r, http.StatusOK, run)
}

func (a *API) runEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := a.opts.Store.RunGet(r.Context(), id); err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	events, err := a.opts.Store.EventList(r.Context(), id)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if events == nil {
		events = []job.Event{}
	}
	writeJSON(w, r, http.StatusOK, eventList{Events: events})
}

func (a *API) cancelRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// With tokens, who acts is the token's name; without, what the client says.
	by := actor(r.Context())
	if by == "" {
		user, err := headerText(r, "X-Docket-User", maxUser)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		by = user
	}
	if by == "" {
		by = "an API request"
	}
	if err := a.mayChangeRun(r.Context(), id); err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	run, err := a.opts.Canceller.Cancel(r.Context(), id, by)
	if err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	a.opts.Logger.Info("run cancel requested", "run_id", id, "by", by)
	writeJSON(w, r, http.StatusOK, run)
}

// logPoll is how often a followed log looks for new output.
const logPoll = 200 * time.Millisecond

// logChunk is how much of a log one store read returns.
const logChunk = 256 << 10

func (a *API) runLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx := r.Context()
	if _, err := a.opts.Store.RunGet(ctx, id); err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	var offset int64
	if s := r.URL.Query().Get("offset"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, r, a.opts.Logger, invalid("offset", fmt.Sprintf("%q is not a byte offset (a whole number, 0 or more)", s)))
			return
		}
		offset = n
	}
	follow := r.URL.Query().Get("follow") == "true"
	if follow {
		release, err := a.follows.take(ctx)
		if err != nil {
			w.Header().Set("Retry-After", "10") // as every rate_limited answer says when
			writeError(w, r, a.opts.Logger, err)
			return
		}
		defer release()
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	flusher, _ := w.(http.Flusher)
	// A client that stops reading is let go after a.logWriteTimeout, not held for as long as
	// the run goes on. The deadline is the connection's: it is cleared for what follows.
	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Time{})
	for {
		// Read the state before the log: the executor flushes the log before it reports the
		// run terminal, so once terminal is seen, one more read gets everything.
		run, err := a.opts.Store.RunGet(ctx, id)
		if err != nil {
			return
		}
		for {
			data, err := a.opts.Store.LogRead(ctx, id, offset, logChunk)
			if err != nil {
				if ctx.Err() == nil {
					a.opts.Logger.Error("read run log", "run_id", id, "err", err)
				}
				return
			}
			if len(data) == 0 {
				break
			}
			_ = rc.SetWriteDeadline(time.Now().Add(a.logWriteTimeout))
			if _, err := w.Write(data); err != nil {
				return
			}
			offset += int64(len(data))
		}
		if flusher != nil {
			flusher.Flush()
		}
		if !follow || run.State.Terminal() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(logPoll):
		}
	}
}

// maxFollows caps the logs one token follows at once: each is a connection held, and a
// read of the store every logPoll, for as long as its run goes on.
const maxFollows = 32

// followLimit counts the logs each token follows.
type followLimit struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more follow for the request's token, or refuses it at maxFollows.
func (f *followLimit) take(ctx context.Context) (release func(), err error) {
	tok, _ := ctx.Value(tokenKey{}).(auth.Token)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[tok.Name] >= maxFollows {
		who := "this server's open API"
		if tok.Name != "" {
			who = fmt.Sprintf("token %q", tok.Name)
		}
		return nil, &statusError{status: http.StatusTooManyRequests, code: "rate_limited",
			msg: fmt.Sprintf("%s follows %d logs already; stop one, or read without follow", who, maxFollows)}
	}
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[tok.Name]++
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.n[tok.Name]--; f.n[tok.Name] == 0 {
			delete(f.n, tok.Name)
		}
	}, nil
}

// runErr names the run in a not-found error.
func runErr(id string, err error) error {
	if errors.Is(err, job.ErrNotFound) {
		return &statusError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("run %q not found", id)}
	}
	return err
}
