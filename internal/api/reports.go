package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// Limits of what a run reports (and job.MaxReportMetrics, over all of a run's reports).
const (
	maxResult     = job.MaxResultBytes
	maxCheckpoint = 512 << 10
)

// metricName is what a reported metric may be called: a Prometheus metric name without
// colons, so it can be exported as a label value and read back in PromQL.
var metricName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,99}$`)

// reportRequest is the body of POST /api/v1/runs/{id}/report.
type reportRequest struct {
	Metrics    map[string]float64 `json:"metrics"`
	Result     json.RawMessage    `json:"result"`
	Checkpoint json.RawMessage    `json:"checkpoint"`
}

// runGuard admits a run's own token to a run's endpoint (the {id} in the path), and
// otherwise asks for an API token of the role, as guard does. A request with a token may
// send its body under any Content-Type, as curl -d does.
func (a *API) runGuard(role auth.Role, h http.HandlerFunc) http.HandlerFunc {
	byRole := a.guardTyped(role, true, h)
	return func(w http.ResponseWriter, r *http.Request) {
		secret, _ := bearer(r)
		if a.opts.RunTokens == nil || !auth.IsRunToken(secret) {
			byRole(w, r)
			return
		}
		id, ok := a.opts.RunTokens.Check(secret)
		switch {
		case !ok:
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusUnauthorized, code: "unauthorized",
				msg: "the run token is not one this server made"})
		case id != r.PathValue("id"):
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusForbidden, code: "forbidden",
				msg: fmt.Sprintf("the token of run %s reports only on that run, not on %s", id, r.PathValue("id"))})
		case !a.limits.Allow("run " + id):
			w.Header().Set("Retry-After", "1")
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusTooManyRequests, code: "rate_limited",
				msg: fmt.Sprintf("run %s made more than %g requests per second; retry in a second", id, a.opts.RateLimit)})
		default:
			h(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, auth.Token{Name: "run " + id})))
		}
	}
}

// postReport records what a run says about itself: metrics, a result, a checkpoint.
func (a *API) postReport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// A team's token reports only on its team's runs (a run's own token has no teams).
	if err := a.mayChangeRun(r.Context(), id); err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	req, err := decodeReport(w, r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	merged, err := a.opts.Store.ReportPut(r.Context(), job.Report{RunID: id, Metrics: req.Metrics,
		Result: req.Result, Checkpoint: req.Checkpoint, UpdatedAt: a.now().UTC()})
	switch {
	case errors.Is(err, job.ErrConflict):
		writeError(w, r, a.opts.Logger, a.notReporting(r.Context(), id))
		return
	case err != nil:
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	writeJSON(w, r, http.StatusOK, merged)
}

// notReporting says why run id may not report now: it has not started or it has ended.
func (a *API) notReporting(ctx context.Context, id string) error {
	run, err := a.opts.Store.RunGet(ctx, id)
	if err != nil {
		return runErr(id, err)
	}
	msg := fmt.Sprintf("run %s has ended (%s); a run reports only while it runs", id, run.State)
	if !run.State.Terminal() {
		msg = fmt.Sprintf("run %s has not started (it is %s); a run reports only while it runs", id, run.State)
	}
	return &statusError{status: http.StatusConflict, code: "conflict", msg: msg}
}

// reportShape describes a report for decodeBody's errors.
var reportShape = bodyShape{name: "a report", fields: "metrics, result and checkpoint",
	want: map[string]string{"metrics": "a mapping of names to numbers"}}

// decodeReport reads a report strictly and checks its size, depth and names. The body is
// read as JSON whatever its Content-Type says (curl -d sends a form type, and jobs report
// with curl); runGuard lets only a request with a token send it so.
func decodeReport(w http.ResponseWriter, r *http.Request) (reportRequest, error) {
	var req reportRequest
	body, err := readBody(w, r)
	if err != nil {
		return req, err
	}
	if err := decodeBody(body, &req, reportShape); err != nil {
		return req, err
	}
	if len(req.Metrics) == 0 && len(req.Result) == 0 && len(req.Checkpoint) == 0 {
		return req, invalid("body", `reports nothing; send {"metrics": {"records_read": 1200}}, a "result" or a "checkpoint"`)
	}
	if len(req.Metrics) > job.MaxReportMetrics {
		return req, invalid("metrics", fmt.Sprintf("holds %d metrics; a run reports at most %d", len(req.Metrics), job.MaxReportMetrics))
	}
	for name, v := range req.Metrics {
		if !metricName.MatchString(name) {
			return req, invalid("metrics."+name, "is not a metric name: use letters, digits and '_', not starting with a digit, at most 100")
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return req, invalid("metrics."+name, "must be a finite number")
		}
	}
	for _, doc := range []struct {
		field string
		value *json.RawMessage
		limit int
	}{{"result", &req.Result, maxResult}, {"checkpoint", &req.Checkpoint, maxCheckpoint}} {
		if len(*doc.value) == 0 {
			continue
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, *doc.value); err != nil {
			return req, invalid(doc.field, err.Error())
		}
		switch {
		case compact.String() == "null":
			return req, invalid(doc.field, "is null; leave it out to keep the one reported before")
		case compact.Len() > doc.limit:
			return req, invalid(doc.field, fmt.Sprintf("is %d bytes; the limit is %d", compact.Len(), doc.limit))
		case definition.JSONDepth(compact.Bytes()) > maxDepth:
			return req, invalid(doc.field, fmt.Sprintf("nests %d levels of objects and arrays; at most %d are allowed", definition.JSONDepth(compact.Bytes()), maxDepth))
		}
		*doc.value = compact.Bytes()
	}
	return req, nil
}

// getReport returns what a run reported.
func (a *API) getReport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rep, err := a.opts.Store.ReportGet(r.Context(), id)
	if err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	writeJSON(w, r, http.StatusOK, rep)
}

// getCheckpoint returns the newest checkpoint of a run or of the attempts before it, so a
// retry resumes where the failed attempt got to.
func (a *API) getCheckpoint(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for at := id; at != ""; {
		rep, err := a.opts.Store.ReportGet(r.Context(), at)
		if err != nil {
			writeError(w, r, a.opts.Logger, runErr(at, err))
			return
		}
		if len(rep.Checkpoint) > 0 {
			writeJSON(w, r, http.StatusOK, checkpointView{RunID: at, Checkpoint: rep.Checkpoint, UpdatedAt: rep.UpdatedAt})
			return
		}
		run, err := a.opts.Store.RunGet(r.Context(), at)
		if err != nil {
			writeError(w, r, a.opts.Logger, runErr(at, err))
			return
		}
		at = run.RetryOf
	}
	writeError(w, r, a.opts.Logger, &statusError{status: http.StatusNotFound, code: "no_checkpoint",
		msg: fmt.Sprintf("run %s and the attempts before it saved no checkpoint", id)})
}
