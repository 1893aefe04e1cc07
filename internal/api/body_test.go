package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// nested is a JSON document that nests n arrays.
func nested(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestHeaderText(t *testing.T) {
	t.Parallel()
	for value, ok := range map[string]bool{
		"ana@laptop": true, "": true, "Ana Lópes": true, strings.Repeat("k", 200): true,
		strings.Repeat("k", 201): false, "ana\xff": false, "ana\x01": false, "ana\tb": false, "a\x7f": false,
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header["X-Docket-User"] = []string{value}
		got, err := headerText(r, "X-Docket-User", 200)
		if (err == nil) != ok || ok && got != value {
			t.Errorf("headerText(%q) = %q, %v; want it accepted: %v", value, got, err, ok)
		}
	}
}

// TestCompactJSON checks that answers are compact JSON unless ?pretty asks for them
// indented.
func TestCompactJSON(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob)
	for _, tt := range []struct {
		query  string
		indent bool
	}{{"", false}, {"?pretty", true}, {"?pretty=true", true}, {"?pretty=1", true}, {"?pretty=false", false}} {
		for _, path := range []string{"/api/v1/jobs", "/api/v1/jobs/nightly", "/api/v1/jobs/absent"} {
			_, body := f.call(t, "GET", path+tt.query, "", "")
			if got := strings.Contains(string(body), "\n  "); got != tt.indent || !json.Valid(body) {
				t.Errorf("GET %s%s: indented %v, want %v: %.80s", path, tt.query, got, tt.indent, body)
			}
		}
	}
}

// TestReportDepth checks that a reported document may nest at most maxDepth levels.
func TestReportDepth(t *testing.T) {
	t.Parallel()
	f := setup(t)
	run := f.startedRun(t, "")
	path := "/api/v1/runs/" + run.ID + "/report"
	status, body := f.call(t, "POST", path, "application/json", `{"checkpoint": `+nested(9000)+`}`)
	if status != 400 || !strings.Contains(string(body), `"field":"checkpoint"`) || !strings.Contains(string(body), "nests 9000 levels") {
		t.Errorf("a checkpoint nested 9000 deep: %d %.200s", status, body)
	}
	status, body = f.call(t, "POST", path, "application/json", `{"result": {"a": `+nested(maxDepth)+`}}`)
	if status != 400 || !strings.Contains(string(body), `"field":"result"`) {
		t.Errorf("a result nested %d deep: %d %.200s", maxDepth+1, status, body)
	}
	if status, body := f.call(t, "POST", path, "application/json", `{"checkpoint": `+nested(maxDepth)+`}`); status != 200 {
		t.Errorf("a checkpoint nested %d deep: %d %.200s", maxDepth, status, body)
	}
}

// TestSubmitIdempotencyConflict checks that an Idempotency-Key used again with another
// request is refused with 409 naming the key, while the same request (however its JSON is
// spelled) returns the first run.
func TestSubmitIdempotencyConflict(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob)
	status, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":{"A":"1","B":"2"}}`, "Idempotency-Key", "k1")
	var first job.Run
	if status != 201 || json.Unmarshal(body, &first) != nil {
		t.Fatalf("first submission: %d %s", status, body)
	}
	for _, tt := range []struct {
		name, body string
		status     int
	}{
		{"the same request", `{"env":{"A":"1","B":"2"}}`, 200},
		{"the same request spelled otherwise", `{ "env": {"B": "2", "A": "1"}, "trigger": "api" }`, 200},
		{"another env value", `{"env":{"A":"1","B":"3"}}`, 409},
		{"less env", `{"env":{"A":"1"}}`, 409},
		{"no body", ``, 409},
		{"another trigger", `{"env":{"A":"1","B":"2"},"trigger":"manual"}`, 409},
	} {
		status, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", tt.body, "Idempotency-Key", "k1")
		var e errorBody
		switch {
		case status != tt.status:
			t.Errorf("%s: %d %s; want %d", tt.name, status, body, tt.status)
		case status == 409 && (json.Unmarshal(body, &e) != nil || e.Error.Field != "Idempotency-Key" || !strings.Contains(e.Error.Message, `"k1"`) || !strings.Contains(e.Error.Message, first.ID)):
			t.Errorf("%s: the conflict does not name the key and its run: %s", tt.name, body)
		case status == 200 && !strings.Contains(string(body), first.ID):
			t.Errorf("%s: answered another run: %s", tt.name, body)
		}
	}
	if runs, _, _ := f.store.RunList(context.Background(), store.RunFilter{}); len(runs) != 1 {
		t.Errorf("%d runs stored, want 1", len(runs))
	}
}

// TestInvalidUTF8 checks, on both stores, that text that is not UTF-8 in a report, an
// Idempotency-Key or X-Docket-User is a 400 naming it, and stores nothing.
func TestInvalidUTF8(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) store.Store{
		"sqlite":   func(t *testing.T) store.Store { return setup(t).store },
		"postgres": func(t *testing.T) store.Store { return pgtest.Open(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := setupWith(t, open(t))
			run := f.startedRun(t, "")
			before := f.snapshot(t)
			report := "/api/v1/runs/" + run.ID + "/report"
			for _, tt := range []struct {
				name, method, path, body string
				header                   []string
				field                    string
			}{
				{"a result", "POST", report, "{\"result\": {\"model\": \"s3://m/\xff\xfe\"}}", nil, "body"},
				{"a checkpoint", "POST", report, "{\"checkpoint\": \"\xc3\"}", nil, "body"},
				{"a metric name", "POST", report, "{\"metrics\": {\"rows\xff\": 1}}", nil, "body"},
				{"an idempotency key", "POST", "/api/v1/jobs/nightly/runs", "", []string{"Idempotency-Key", "key-\xff"}, "Idempotency-Key"},
				{"a user", "POST", "/api/v1/runs/" + run.ID + "/cancel", "", []string{"X-Docket-User", "ana\xff@laptop"}, "X-Docket-User"},
				{"an env value", "POST", "/api/v1/jobs/nightly/runs", "{\"env\": {\"A\": \"\xff\"}}", nil, "body"},
				{"a definition", "PUT", "/api/v1/jobs/nightly", strings.Replace(goodJob, "MODE: full", "MODE: \"\xff\"", 1), nil, "body"},
			} {
				contentType := ""
				if tt.body != "" {
					contentType = "application/json"
				}
				status, body := f.call(t, tt.method, tt.path, contentType, tt.body, tt.header...)
				var e errorBody
				if err := json.Unmarshal(body, &e); err != nil || status != http.StatusBadRequest || e.Error.Field != tt.field || !strings.Contains(e.Error.Message, "UTF-8") {
					t.Errorf("%s: %d %q; want 400 naming %s", tt.name, status, body, tt.field)
				}
			}
			if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
				t.Errorf("refused requests changed what is stored (-before +after):\n%s", diff)
			}
		})
	}
}

// TestBodyTypeErrors: a value of the wrong JSON type is named with what the field wants; in
// a mapping, the message says one of its values is wrong, not the mapping itself.
func TestBodyTypeErrors(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"metrics": {"x": "NaN"}}`:   "metrics: must be a mapping of names to numbers; one of its values is a JSON string",
		`{"metrics": [1]}`:            "metrics: must be a mapping of names to numbers, not a JSON array",
		`{"result": 1, "metrics": 2}`: "metrics: must be a mapping of names to numbers, not a JSON number",
	} {
		var req reportRequest
		if err := decodeBody([]byte(body), &req, reportShape); err == nil || err.Error() != want {
			t.Errorf("%s: %v; want %q", body, err, want)
		}
	}
}
