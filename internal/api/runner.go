package api

import (
	"context"
	"fmt"
	"net/http"

	"docket.dev/docket/internal/auth"
)

// runnerMay says whether a runner token may make request r: submit a run of one of its
// jobs (POST /api/v1/jobs/{name}/runs, with an Idempotency-Key as CI systems send), read
// one of its jobs, or read a run of one (its events, log, report and steps' results).
// Everything else is forbidden, whatever the route's role.
func (a *API) runnerMay(r *http.Request, tok auth.Token) error {
	forbid := func(why string) error {
		return &statusError{status: http.StatusForbidden, code: "forbidden",
			msg: fmt.Sprintf("token %q is a runner of %v; %s", tok.Name, tok.Jobs, why)}
	}
	switch r.Pattern {
	case "POST /api/v1/jobs/{name}/runs", "GET /api/v1/jobs/{name}":
		if !tok.MayRun(r.PathValue("name")) {
			return forbid(fmt.Sprintf("it may not reach job %q", r.PathValue("name")))
		}
		return nil
	case "GET /api/v1/runs/{id}", "GET /api/v1/runs/{id}/events", "GET /api/v1/runs/{id}/logs",
		"GET /api/v1/runs/{id}/report", "GET /api/v1/runs/{id}/steps/{step}/result",
		"GET /api/v1/runs/{id}/results", "GET /api/v1/runs/{id}/files":
		run, err := a.opts.Store.RunGet(r.Context(), r.PathValue("id"))
		if err != nil {
			return runErr(r.PathValue("id"), err)
		}
		if !tok.MayRun(run.Job) {
			return forbid(fmt.Sprintf("run %s is of job %q", run.ID, run.Job))
		}
		return nil
	case "GET /api/v1/runs":
		q := r.URL.Query()
		if parent := q.Get("parent"); parent != "" && q.Get("job") == "" {
			// The steps of a workflow run of one of its jobs (docket run --wait).
			run, err := a.opts.Store.RunGet(r.Context(), parent)
			if err != nil {
				return runErr(parent, err)
			}
			if !tok.MayRun(run.Job) {
				return forbid(fmt.Sprintf("run %s is of job %q", run.ID, run.Job))
			}
			return nil
		}
		if !tok.MayRun(q.Get("job")) {
			return forbid("it lists only runs of its jobs: add ?job=NAME")
		}
		return nil
	case "GET /api/v1/whoami":
		return nil
	}
	return forbid(fmt.Sprintf("it submits and reads runs of those jobs only, not %s %s", r.Method, r.URL.Path))
}

// runnerMaySend refuses, for a runner token, a run request that sets more than the run's
// params and array (tasks, inputs, parallelism, max_failed): a webhook starts the job's
// command as its authors made it, and its env (BASH_ENV runs a file of the sender's
// choosing), input files, queue and priority are theirs to set (an editor's token may).
func runnerMaySend(ctx context.Context, req submitRequest) error {
	tok, _ := ctx.Value(tokenKey{}).(auth.Token)
	if tok.Role != auth.Runner {
		return nil
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"env", len(req.Env) > 0}, {"files", len(req.Files) > 0}, {"task_files", len(req.TaskFiles) > 0},
		{"queue", req.Queue != ""}, {"priority", req.Priority != 0},
	} {
		if f.set {
			return &statusError{status: http.StatusForbidden, code: "forbidden", field: f.name,
				msg: fmt.Sprintf("token %q is a runner: its runs may set params and an array's tasks, not %s", tok.Name, f.name)}
		}
	}
	return nil
}
