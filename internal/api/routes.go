package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// access says who may call an endpoint.
type access int

const (
	// byRole needs an API token of the endpoint's role (when the server has tokens).
	byRole access = iota
	// byRunOrRole also admits the run's own token, for the run in the path.
	byRunOrRole
	// open needs no token: health checks and metrics.
	open
)

// endpoint is one route of the API: its method and path, who may call it, its handler,
// and what it takes and gives. Every route is registered from this table, and the OpenAPI
// description is made from it, so a route added here is described by construction.
type endpoint struct {
	method, path string
	access       access
	role         auth.Role
	handle       http.HandlerFunc
	doc          opDoc
}

// opDoc describes an endpoint for its OpenAPI operation.
type opDoc struct {
	summary string
	// params are the query and header parameters; path parameters come from the path.
	params []param
	// body is the request body's Go type (nil: none); bodyYAML says it may be sent as
	// YAML too; bodyOptional that it may be left out.
	body         reflect.Type
	bodyYAML     bool
	bodyOptional bool
	// statuses are the success statuses (default 200); returns is the response body's Go
	// type (nil: none), text says the body is plain text.
	statuses []int
	returns  reflect.Type
	text     bool
	// rawBody says the request body is a file's bytes (application/octet-stream);
	// binary that the response body is.
	rawBody, binary bool
}

// param is a query or header parameter.
type param struct {
	in, name, typ, desc string
	repeated            bool
}

func query(name, typ, desc string) param { return param{in: "query", name: name, typ: typ, desc: desc} }
func header(name, desc string) param {
	return param{in: "header", name: name, typ: "string", desc: desc}
}
func dryRunParam(what string) param {
	return query("dry_run", "boolean", "store nothing; answer "+what+" instead")
}
func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }
func repeated(p param) param      { p.repeated = true; return p }
func statuses(codes ...int) []int { return codes }

// Response bodies that are lists or small documents.
type (
	jobList struct {
		Jobs       []jobView `json:"jobs"`
		NextCursor string    `json:"next_cursor,omitempty"`
	}
	runList struct {
		Runs       []job.Run `json:"runs"`
		NextCursor string    `json:"next_cursor,omitempty"`
	}
	eventList struct {
		Events []job.Event `json:"events"`
	}
	whoamiView struct {
		// Auth says whether the server needs tokens; without, everyone is admin.
		Auth  bool     `json:"auth"`
		Name  string   `json:"name,omitempty"`
		Role  string   `json:"role"`
		Teams []string `json:"teams,omitempty"`
		// Jobs are the only jobs a runner token may submit and read.
		Jobs []string `json:"jobs,omitempty"`
	}
	stepResultView struct {
		RunID  string          `json:"run_id"`
		Step   string          `json:"step"`
		Result json.RawMessage `json:"result"`
	}
	checkpointView struct {
		RunID      string          `json:"run_id"`
		Checkpoint json.RawMessage `json:"checkpoint"`
		UpdatedAt  time.Time       `json:"updated_at"`
	}
	statusView struct {
		Status string `json:"status"`
	}
)

// endpoints is the API's route table.
func (a *API) endpoints() []endpoint {
	jobView := typeOf[jobView]()
	run := typeOf[job.Run]()
	page := []param{query("limit", "integer", "the page size, 1 to 1000"), query("cursor", "string", "next_cursor of the page before")}
	eps := []endpoint{
		{"PUT", "/api/v1/jobs/{name}", byRole, auth.Editor, a.putJob, opDoc{
			summary: "Create or update a job: 201 when a new revision was stored, 200 when nothing changed",
			params:  []param{dryRunParam("what would change (created, unchanged or the changed fields) and the next runs")},
			body:    typeOf[job.Spec](), bodyYAML: true, statuses: statuses(200, 201), returns: jobView}},
		{"GET", "/api/v1/jobs", byRole, auth.Viewer, a.listJobs, opDoc{
			summary: "List the jobs by name, a page at a time (1,000 unless ?limit= says fewer; next_cursor when there are more), with their newest runs",
			params: append([]param{query("name", "string", "keep the jobs whose name holds this"),
				query("recent", "integer", "add each job's newest N runs (0 to 50)")}, page...),
			returns: typeOf[jobList]()}},
		{"GET", "/api/v1/jobs/{name}", byRole, auth.Viewer, a.getJob, opDoc{
			summary: "One job, with its next fire times and newest run", returns: jobView}},
		{"DELETE", "/api/v1/jobs/{name}", byRole, auth.Admin, a.deleteJob, opDoc{
			summary: "Delete a job (its runs stay until retention removes them)", statuses: statuses(204)}},
		{"POST", "/api/v1/jobs/{name}/suspend", byRole, auth.Editor, a.suspendJob(true), opDoc{
			summary: "Suspend a job's schedule: its slots are recorded as skipped", returns: jobView}},
		{"POST", "/api/v1/jobs/{name}/resume", byRole, auth.Editor, a.suspendJob(false), opDoc{
			summary: "Resume a job's schedule", returns: jobView}},
		{"POST", "/api/v1/jobs/{name}/runs", byRole, auth.Editor, a.submitRun, opDoc{
			summary: "Start a run now: 201 with the new run, 200 with the first run of a repeated Idempotency-Key",
			params: []param{header("Idempotency-Key", "makes a repeated request return the first run (UTF-8, at most 200 bytes)"),
				dryRunParam("the run as it would be stored and what it would run: command, env, queue and the executor's manifest")},
			body: typeOf[submitRequest](), bodyOptional: true, statuses: statuses(201, 200), returns: run}},
		{"GET", "/api/v1/jobs/{name}/series", byRole, auth.Viewer, a.jobSeries, opDoc{
			summary: "A job's newest runs with duration, schedule lag and reported metrics, oldest first: what its charts draw",
			params: []param{query("limit", "integer", "how many runs, 1 to 999 (default 100)"),
				query("since", "date-time", "runs made at or after this time"), query("until", "date-time", "runs made before this time"),
				repeated(query("metric", "string", "a metric to chart (up to 20); default: the 20 most runs reported"))},
			returns: typeOf[seriesView]()}},
		{"PUT", "/api/v1/queues/{name}", byRole, auth.Admin, a.putQueue, opDoc{
			summary: "Create or change a queue's limits, priority and state (disabled: true holds its queued runs): 201 when it changed, 200 when not; it takes effect at once",
			params:  []param{dryRunParam("what would change")},
			body:    typeOf[job.Queue](), bodyYAML: true, statuses: statuses(200, 201), returns: typeOf[queueApplied]()}},
		{"GET", "/api/v1/queues", byRole, auth.Viewer, a.listQueues, opDoc{
			summary: "The queues by name with their running and queued counts, and the default queue's", returns: typeOf[queueList]()}},
		{"GET", "/api/v1/queues/{name}", byRole, auth.Viewer, a.getQueue, opDoc{
			summary: "One queue with its running and queued counts", returns: typeOf[queueView]()}},
		{"DELETE", "/api/v1/queues/{name}", byRole, auth.Admin, a.deleteQueue, opDoc{
			summary: "Delete a queue no job names and no unfinished run is in (409 naming the jobs or runs)", statuses: statuses(204)}},
		{"GET", "/api/v1/runs", byRole, auth.Viewer, a.listRuns, opDoc{
			summary: "List runs, newest first, a page at a time",
			params: append([]param{query("job", "string", "only this job's runs"),
				query("state", "string", "only runs in these states, comma-separated")}, page...),
			returns: typeOf[runList]()}},
		{"GET", "/api/v1/runs/{id}", byRole, auth.Viewer, a.getRun, opDoc{summary: "One run", returns: run}},
		{"GET", "/api/v1/runs/{id}/events", byRole, auth.Viewer, a.runEvents, opDoc{
			summary: "A run's events, oldest first", returns: typeOf[eventList]()}},
		{"GET", "/api/v1/runs/{id}/logs", byRole, auth.Viewer, a.runLogs, opDoc{
			summary: "A run's log as text, from a byte offset; with follow=true, until the run ends",
			params: []param{query("offset", "integer", "the byte to start at"),
				query("follow", "boolean", "keep the answer open and send output as it comes, until the run ends")},
			text: true}},
		{"POST", "/api/v1/runs/{id}/cancel", byRole, auth.Editor, a.cancelRun, opDoc{
			summary: "Cancel a run: a queued run at once, an active one is asked to stop",
			params:  []param{header("X-Docket-User", "who asks, on a server without tokens")},
			returns: run}},
		{"POST", "/api/v1/runs/{id}/report", byRunOrRole, auth.Editor, a.postReport, opDoc{
			summary: "Report metrics, a result or a checkpoint while the run runs (with the run's own token)",
			body:    typeOf[reportRequest](), returns: typeOf[job.Report]()}},
		{"GET", "/api/v1/runs/{id}/report", byRunOrRole, auth.Viewer, a.getReport, opDoc{
			summary: "What a run reported", returns: typeOf[job.Report]()}},
		{"GET", "/api/v1/runs/{id}/checkpoint", byRunOrRole, auth.Viewer, a.getCheckpoint, opDoc{
			summary: "The newest checkpoint of a run or of the attempts before it", returns: typeOf[checkpointView]()}},
		{"POST", "/api/v1/runs/{id}/retry", byRole, auth.Editor, a.retryRun, opDoc{
			summary: "Resume an ended workflow or array run as a new run: what succeeded is carried over, the rest (with from, that step and what follows) runs again",
			body:    typeOf[retryRequest](), bodyOptional: true, statuses: statuses(201), returns: run}},
		{"GET", "/api/v1/runs/{id}/steps/{step}/result", byRunOrRole, auth.Viewer, a.getStepResult, opDoc{
			summary: "The result a step of the run's workflow reported", returns: typeOf[stepResultView]()}},
		{"GET", "/api/v1/runs/{id}/results", byRole, auth.Viewer, a.getResults, opDoc{
			summary: "A page of an array run's tasks in index order: each one's input, state, exit code, result and output files",
			params: []param{query("after", "integer", "the task index the page starts after (-1, the default: from task 0)"),
				query("limit", "integer", "the page size, 0 to 1000 (default 100)")},
			returns: typeOf[Results]()}},
		{"GET", "/api/v1/runs/{id}/tasks/{index}/start", byRunOrRole, auth.Editor, a.taskStart, opDoc{
			summary: "What a pod of an array's Indexed Job runs (with the array's own token): its task's attempt, and that run's command, env and token (action run), or skip, wait or stop with why",
			params:  []param{query("attempt", "integer", "the attempt, from 1 (default 1): one more than the failed pods of the index")},
			returns: typeOf[TaskStart]()}},
		{"GET", "/api/v1/runs/{id}/files", byRunOrRole, auth.Viewer, a.getRunFiles, opDoc{
			summary: "A run's input files (its own and its array's) and the output files it reported", returns: typeOf[RunFiles]()}},
		{"GET", "/api/v1/runs/{id}/inputs/{sha256}", byRunOrRole, auth.Viewer, a.getRunInput, opDoc{
			summary: "The content of one of a run's input files (with the run's own token: what docket inputs fetch reads)", binary: true}},
		{"PUT", "/api/v1/runs/{id}/outputs", byRunOrRole, auth.Editor, a.putOutput, opDoc{
			summary: "Keep an output file with a running run (with the run's own token): the body carries its bytes from offset",
			params: []param{query("path", "string", "the file's path relative to the working directory"),
				query("sha256", "string", "the SHA-256 of the whole file, 64 lowercase hex digits"),
				query("size", "integer", "the whole file's size in bytes"),
				query("offset", "integer", "where the body starts in the file (0 unless resuming)")},
			rawBody: true, returns: typeOf[store.Blob]()}},
		{"HEAD", "/api/v1/blobs/{sha256}", byRole, auth.Viewer, a.headBlob, opDoc{
			summary: "How a blob stands, in the headers Docket-Blob-Size, Docket-Blob-Received and Docket-Blob-Complete: 404 when the server has none of it"}},
		{"GET", "/api/v1/blobs/{sha256}", byRole, auth.Viewer, a.getBlob, opDoc{
			summary: "A complete blob's content", binary: true}},
		{"PUT", "/api/v1/blobs/{sha256}", byRole, auth.Editor, a.putBlob, opDoc{
			summary: "Upload a blob's bytes from offset, checked against its SHA-256 once all arrived; a blob the server has is not received again; one not complete is its sender's token's (409 busy to others), and a token holds at most --max-held-uploads of blobs no run names (413 quota)",
			params: []param{query("size", "integer", "the whole blob's size in bytes"),
				query("offset", "integer", "where the body starts in the blob (0 unless resuming; HEAD says how much arrived)")},
			rawBody: true, returns: typeOf[store.Blob]()}},
		{"GET", "/api/v1/whoami", byRole, auth.Viewer, a.whoami, opDoc{
			summary: "Who the request's token is and what it may do", returns: typeOf[whoamiView]()}},
		{"GET", "/api/v1/openapi.json", byRole, auth.Viewer, a.openAPIDocument, opDoc{
			summary: "This description of the API (OpenAPI 3.1)", returns: typeOf[map[string]any]()}},
		{"GET", "/healthz", open, auth.Viewer, a.healthz, opDoc{summary: "The server is up", returns: typeOf[statusView]()}},
		{"GET", "/readyz", open, auth.Viewer, a.readyz, opDoc{
			summary:  "The server is ready (start-up recovery is done and the store answers): 200, or 503",
			statuses: statuses(200, 503), returns: typeOf[statusView]()}},
	}
	if a.opts.MetricsHandler != nil {
		eps = append(eps, endpoint{"GET", "/metrics", open, auth.Viewer, a.opts.MetricsHandler.ServeHTTP, opDoc{
			summary: "Prometheus metrics, in its text exposition format", text: true}})
	}
	return eps
}

// handler wraps an endpoint's handler in the checks of its access.
func (a *API) handler(e endpoint) http.HandlerFunc {
	switch e.access {
	case byRunOrRole:
		return a.runGuard(e.role, e.handle)
	case open:
		return e.handle
	}
	return a.guard(e.role, e.handle)
}
