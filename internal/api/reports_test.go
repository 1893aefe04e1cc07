package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/job"
)

// startedRun applies nightly and stores a running run of it, as the executor would have.
func (f *fixture) startedRun(t *testing.T, retryOf string, headers ...string) job.Run {
	t.Helper()
	f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob, headers...)
	r := job.Run{ID: job.NewRunID(f.now), Job: "nightly", Revision: 1, State: job.StateRunning, Trigger: job.TriggerAPI,
		Attempt: 1, RetryOf: retryOf, NotBefore: f.now, CreatedAt: f.now}
	if retryOf != "" {
		r.Trigger, r.Attempt = job.TriggerRetry, 2
	}
	if _, _, err := f.store.RunCreate(context.Background(), r, job.Event{RunID: r.ID, Time: f.now, State: r.State}); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReports(t *testing.T) {
	t.Parallel()
	f, secrets := setupAuth(t)
	tokens := auth.NewRunTokens([]byte("0123456789abcdef0123456789abcdef"))
	f.api.opts.RunTokens = tokens
	admin := []string{"Authorization", "Bearer " + secrets["admin"]}
	run := f.startedRun(t, "", admin...)
	other := f.startedRun(t, "", admin...)
	own := []string{"Authorization", "Bearer " + tokens.For(run.ID)}
	path := "/api/v1/runs/" + run.ID + "/report"

	tests := []struct {
		name    string
		header  []string
		path    string
		body    string
		status  int
		message string
	}{
		{"no token", nil, path, `{"metrics": {"a": 1}}`, 401, "needs an API token"},
		{"a viewer", []string{"Authorization", "Bearer " + secrets["viewer"]}, path, `{"metrics": {"a": 1}}`, 403, "needs editor"},
		{"another run's token", []string{"Authorization", "Bearer " + tokens.For(other.ID)}, path, `{"metrics": {"a": 1}}`, 403, "reports only on that run"},
		{"a forged run token", []string{"Authorization", "Bearer docket-run." + run.ID + ".forged"}, path, `{"metrics": {"a": 1}}`, 401, "not one this server made"},
		{"nothing", own, path, `{}`, 400, "reports nothing"},
		{"unknown field", own, path, `{"metric": {"a": 1}}`, 400, "metric: is not a field of a report; the fields are metrics, result and checkpoint"},
		{"a bad name", own, path, `{"metrics": {"records read": 1}}`, 400, "not a metric name"},
		{"not a number", own, path, `{"metrics": {"rows": "many"}}`, 400, "metrics"},
		{"a null result", own, path, `{"result": null}`, 400, "is null"},
		{"a huge checkpoint", own, path, `{"checkpoint": "` + strings.Repeat("x", 600<<10) + `"}`, 400, "the limit is"},
		{"no such run", own, "/api/v1/runs/nope/report", `{"metrics": {"a": 1}}`, 403, "reports only on that run"},
		{"its own token, the scheme in lower case", []string{"Authorization", "bearer " + tokens.For(run.ID)}, path, `{"metrics": {"models": 1}}`, 200, ""},
		{"its own token", own, path, `{"metrics": {"records_read": 1200, "models": 2}, "checkpoint": {"offset": 1200}}`, 200, ""},
		{"not JSON", own, path, `records_read=5`, 400, "body"},
		{"an editor for it", []string{"Authorization", "Bearer " + secrets["editor"]}, path, `{"metrics": {"models": 3}, "result": {"auc": 0.91}}`, 200, ""},
	}
	for _, tt := range tests {
		// As curl -d sends it: JSON under a form Content-Type.
		status, body := f.call(t, "POST", tt.path, "application/x-www-form-urlencoded", tt.body, tt.header...)
		if status != tt.status || !strings.Contains(string(body), tt.message) {
			t.Errorf("%s: %d %s; want %d with %q", tt.name, status, body, tt.status, tt.message)
		}
	}
	status, body := f.call(t, "GET", path, "", "", "Authorization", "Bearer "+secrets["viewer"])
	var rep job.Report
	if status != 200 || json.Unmarshal(body, &rep) != nil {
		t.Fatalf("GET report: %d %s", status, body)
	}
	if rep.Metrics["records_read"] != 1200 || rep.Metrics["models"] != 3 || compact(rep.Result) != `{"auc":0.91}` || compact(rep.Checkpoint) != `{"offset":1200}` {
		t.Errorf("report %+v", rep)
	}

	// A retry reads the checkpoint its failed attempt saved, with its own token.
	if _, err := f.store.RunTransition(context.Background(), job.Transition{RunID: run.ID, From: job.StateRunning, To: job.StateFailed, Time: f.now, Reason: "ExitCode"}); err != nil {
		t.Fatal(err)
	}
	if status, body := f.call(t, "POST", path, "application/json", `{"metrics": {"late": 1}}`, own...); status != 409 || !strings.Contains(string(body), "has ended (failed)") {
		t.Errorf("a report after the run ended: %d %s", status, body)
	}
	retry := f.startedRun(t, run.ID, admin...)
	retryToken := []string{"Authorization", "Bearer " + tokens.For(retry.ID)}
	status, body = f.call(t, "GET", "/api/v1/runs/"+retry.ID+"/checkpoint", "", "", retryToken...)
	var cp struct {
		RunID      string          `json:"run_id"`
		Checkpoint json.RawMessage `json:"checkpoint"`
	}
	if status != 200 || json.Unmarshal(body, &cp) != nil || cp.RunID != run.ID || compact(cp.Checkpoint) != `{"offset":1200}` {
		t.Errorf("the retry's checkpoint: %d %s", status, body)
	}
	status, body = f.call(t, "GET", "/api/v1/runs/"+other.ID+"/checkpoint", "", "", "Authorization", "Bearer "+tokens.For(other.ID))
	if status != 404 || !strings.Contains(string(body), `"no_checkpoint"`) {
		t.Errorf("a run with no checkpoint: %d %s", status, body)
	}
}

// TestReportMetricsPerRun reports metrics in many requests: the limit holds for the run,
// not per request, and names reported before can be reported again.
func TestReportMetricsPerRun(t *testing.T) {
	t.Parallel()
	f, secrets := setupAuth(t)
	editor := []string{"Authorization", "Bearer " + secrets["editor"]}
	run := f.startedRun(t, "", "Authorization", "Bearer "+secrets["admin"])
	path := "/api/v1/runs/" + run.ID + "/report"
	metrics := func(from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			if b.Len() > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"m%d": %d`, i, i)
		}
		return `{"metrics": {` + b.String() + `}}`
	}
	for _, step := range []struct {
		body    string
		status  int
		message string
	}{
		{metrics(0, 60), 200, ""},
		{metrics(60, 120), 400, `"field":"metrics"`},
		{metrics(60, 100), 200, ""},
		{metrics(0, 100), 200, ""},
		{metrics(100, 101), 400, "run " + run.ID + " reported 100 metric names before, and 1 new ones would make 101; a run reports at most 100"},
	} {
		status, body := f.call(t, "POST", path, "application/json", step.body, editor...)
		if status != step.status || !strings.Contains(strings.ReplaceAll(string(body), " ", ""), strings.ReplaceAll(step.message, " ", "")) {
			t.Errorf("report %.40s...: %d %s; want %d with %q", step.body, status, body, step.status, step.message)
		}
	}
	rep, err := f.store.ReportGet(context.Background(), run.ID)
	if err != nil || len(rep.Metrics) != 100 || rep.Metrics["m99"] != 99 {
		t.Errorf("stored report has %d metrics, %v; want m0..m99", len(rep.Metrics), err)
	}
}

// compact is a JSON document without its indentation.
func compact(doc json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return "invalid JSON: " + string(doc)
	}
	return b.String()
}

// FuzzReportBody posts reports to a running run: each is taken (and reads back as valid
// JSON) or refused with an error document, never a fault.
func FuzzReportBody(f *testing.F) {
	for _, seed := range []string{`{"metrics":{"a":1}}`, `{"result":{"auc":0.91}}`, `{"checkpoint":[1,{"a":"b"}]}`, `{}`, `{"result":null}`,
		`{"metrics":{"a":1}} x`, "{\"result\":\"\xff\"}", `{"checkpoint":"\ud800"}`, `{"result":` + nested(65) + `}`, `{"metrics":{"a":1e999}}`} {
		f.Add(seed)
	}
	fx := setup(f)
	fx.call(f, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob)
	r := job.Run{ID: job.NewRunID(fx.now), Job: "nightly", Revision: 1, State: job.StateRunning, Trigger: job.TriggerAPI, Attempt: 1, NotBefore: fx.now, CreatedAt: fx.now}
	if _, _, err := fx.store.RunCreate(context.Background(), r, job.Event{RunID: r.ID, Time: fx.now, State: r.State}); err != nil {
		f.Fatal(err)
	}
	path := "/api/v1/runs/" + r.ID + "/report"
	f.Fuzz(func(t *testing.T, body string) {
		status, data := fx.call(t, "POST", path, "application/json", body)
		switch {
		case status == http.StatusOK:
			if _, got := fx.call(t, "GET", path, "", ""); !utf8.Valid(got) || !json.Valid(got) {
				t.Fatalf("report %q reads back as %q", body, got)
			}
		case status >= 400 && status < 500:
			var e errorBody
			if err := json.Unmarshal(data, &e); err != nil || e.Error.Message == "" {
				t.Fatalf("%d without an error document: %s", status, data)
			}
		default:
			t.Fatalf("status %d for report %q: %s", status, body, data)
		}
	})
}
