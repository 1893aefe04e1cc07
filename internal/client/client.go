// Package client is the Go client of Docket's HTTP API, used by the CLI and the tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
)

// Client talks to one Docket server.
type Client struct {
	base string
	http *http.Client
	// User names who acts, sent with cancel requests (a server with tokens uses the
	// token's name instead).
	User string
	// Token is the API token sent as a bearer token, if set.
	Token string
	// Waiting, if set, is told when the client starts to wait for something the server
	// has it wait for (another client sending the same file), in a line for a person.
	Waiting func(msg string)
}

// New returns a client for the server at base (http://host:port).
func New(base string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), http: &http.Client{}}
}

// Error is an error answered by the server.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Job is a job as the API shows it.
type Job struct {
	job.Definition
	NextRuns []time.Time `json:"next_runs,omitempty"`
	LastRun  *job.Run    `json:"last_run,omitempty"`
	Changed  *bool       `json:"changed,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
}

// RunRequest is the optional body of a run submission.
type RunRequest = job.RunRequest

// RunFilter selects runs to list.
type RunFilter struct {
	Job    string
	States []string
	// Parent lists a group run's children; TopLevel only runs that are no children.
	Parent   string
	TopLevel bool
	Limit    int
	Cursor   string
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, header http.Header, body io.Reader, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.send(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the docket server at %s (is `docket server` running? set --server or DOCKET_SERVER): %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return resp.StatusCode, decodeError(resp)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// send sends a request with the client's token.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return c.http.Do(req)
}

func decodeError(resp *http.Response) error {
	var body struct {
		Error Error `json:"error"`
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(data, &body); err != nil || body.Error.Message == "" {
		return &Error{Status: resp.StatusCode, Code: "http", Message: fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(data)))}
	}
	body.Error.Status = resp.StatusCode
	return &body.Error
}

func jsonBody(v any) (io.Reader, http.Header, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	return bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}}, nil
}

// ApplyJob creates or updates the job named name from a YAML or JSON definition.
func (c *Client) ApplyJob(ctx context.Context, name string, def []byte) (Job, error) {
	var j Job
	_, err := c.do(ctx, http.MethodPut, "/api/v1/jobs/"+url.PathEscape(name),
		http.Header{"Content-Type": {"application/yaml"}}, bytes.NewReader(def), &j)
	return j, err
}

// Jobs lists every job, by name, a page of 1,000 at a time.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	var jobs []Job
	q := url.Values{"limit": {"1000"}}
	for {
		var page struct {
			Jobs []Job  `json:"jobs"`
			Next string `json:"next_cursor"`
		}
		if _, err := c.do(ctx, http.MethodGet, "/api/v1/jobs?"+q.Encode(), nil, nil, &page); err != nil {
			return nil, err
		}
		jobs = append(jobs, page.Jobs...)
		if page.Next == "" {
			return jobs, nil
		}
		q.Set("cursor", page.Next)
	}
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, name string) (Job, error) {
	var j Job
	_, err := c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(name), nil, nil, &j)
	return j, err
}

// DeleteJob deletes a job; its runs are kept.
func (c *Client) DeleteJob(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, "/api/v1/jobs/"+url.PathEscape(name), nil, nil, nil)
	return err
}

// SuspendJob suspends (or, with suspend false, resumes) a job's schedule.
func (c *Client) SuspendJob(ctx context.Context, name string, suspend bool) (Job, error) {
	verb := "resume"
	if suspend {
		verb = "suspend"
	}
	var j Job
	_, err := c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(name)+"/"+verb, nil, nil, &j)
	return j, err
}

// SubmitRun starts a run of a job now. With an idempotency key, a repeated submission
// returns the first run and created is false.
func (c *Client) SubmitRun(ctx context.Context, name string, req RunRequest, idempotencyKey string) (run job.Run, created bool, err error) {
	body, header, err := jsonBody(req)
	if err != nil {
		return run, false, err
	}
	if idempotencyKey != "" {
		header.Set("Idempotency-Key", idempotencyKey)
	}
	status, err := c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(name)+"/runs", header, body, &run)
	return run, status == http.StatusCreated, err
}

// Runs lists runs, newest first, and the cursor of the next page.
func (c *Client) Runs(ctx context.Context, f RunFilter) ([]job.Run, string, error) {
	q := url.Values{}
	if f.Job != "" {
		q.Set("job", f.Job)
	}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	if f.Parent != "" {
		q.Set("parent", f.Parent)
	}
	if f.TopLevel {
		q.Set("top", "true")
	}
	var out struct {
		Runs []job.Run `json:"runs"`
		Next string    `json:"next_cursor"`
	}
	_, err := c.do(ctx, http.MethodGet, "/api/v1/runs?"+q.Encode(), nil, nil, &out)
	return out.Runs, out.Next, err
}

// Run returns one run.
func (c *Client) Run(ctx context.Context, id string) (job.Run, error) {
	var r job.Run
	_, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(id), nil, nil, &r)
	return r, err
}

// Events returns a run's events, oldest first.
func (c *Client) Events(ctx context.Context, id string) ([]job.Event, error) {
	var out struct {
		Events []job.Event `json:"events"`
	}
	_, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(id)+"/events", nil, nil, &out)
	return out.Events, err
}

// Cancel asks the server to cancel a run.
func (c *Client) Cancel(ctx context.Context, id string) (job.Run, error) {
	var r job.Run
	header := http.Header{}
	if c.User != "" {
		header.Set("X-Docket-User", c.User)
	}
	_, err := c.do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(id)+"/cancel", header, nil, &r)
	return r, err
}

// Retry resumes an ended workflow or array run as a new run: what succeeded is carried
// over, the rest runs again; from names a step to run again with all that follows it.
func (c *Client) Retry(ctx context.Context, id, from string) (job.Run, error) {
	var r job.Run
	var body io.Reader
	if from != "" {
		b, err := json.Marshal(map[string]string{"from": from})
		if err != nil {
			return r, err
		}
		body = bytes.NewReader(b)
	}
	_, err := c.do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(id)+"/retry", http.Header{"Content-Type": {"application/json"}}, body, &r)
	return r, err
}

// Children returns every child run of a group run (each attempt), oldest first.
func (c *Client) Children(ctx context.Context, id string) ([]job.Run, error) {
	var out []job.Run
	f := RunFilter{Parent: id, Limit: 1000}
	for {
		page, next, err := c.Runs(ctx, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		f.Cursor = next
	}
	slices.Reverse(out)
	return out, nil
}

// Logs copies a run's log from offset to w; with follow it keeps copying until the run
// is finished. It returns the offset after the last byte copied.
func (c *Client) Logs(ctx context.Context, id string, offset int64, follow bool, w io.Writer) (int64, error) {
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	if follow {
		q.Set("follow", "true")
	}
	n, err := c.download(ctx, "/api/v1/runs/"+url.PathEscape(id)+"/logs?"+q.Encode(), w)
	return offset + n, err
}

// Report sends what a run says about itself: metrics, a result, a checkpoint (nil parts
// are left as they were). It returns the run's report as merged.
func (c *Client) Report(ctx context.Context, runID string, metrics map[string]float64, result, checkpoint json.RawMessage) (job.Report, error) {
	body, err := json.Marshal(struct {
		Metrics    map[string]float64 `json:"metrics,omitempty"`
		Result     json.RawMessage    `json:"result,omitempty"`
		Checkpoint json.RawMessage    `json:"checkpoint,omitempty"`
	}{metrics, result, checkpoint})
	if err != nil {
		return job.Report{}, err
	}
	var out job.Report
	header := http.Header{"Content-Type": {"application/json"}}
	_, err = c.do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(runID)+"/report", header, bytes.NewReader(body), &out)
	return out, err
}

// RunReport returns what a run reported.
func (c *Client) RunReport(ctx context.Context, runID string) (job.Report, error) {
	var out job.Report
	_, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(runID)+"/report", nil, nil, &out)
	return out, err
}

// Checkpoint returns the newest checkpoint of a run or of the attempts before it, and the
// run that saved it; found is false when none did.
func (c *Client) Checkpoint(ctx context.Context, runID string) (checkpoint json.RawMessage, from string, found bool, err error) {
	var out struct {
		RunID      string          `json:"run_id"`
		Checkpoint json.RawMessage `json:"checkpoint"`
	}
	status, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(runID)+"/checkpoint", nil, nil, &out)
	var ae *Error
	if status == http.StatusNotFound && errors.As(err, &ae) && ae.Code == "no_checkpoint" {
		return nil, "", false, nil
	}
	return out.Checkpoint, out.RunID, err == nil, err
}

// StepResult returns the result step reported in the workflow of run runID (a step of it,
// or the workflow run itself); found is false when the step has none (yet).
func (c *Client) StepResult(ctx context.Context, runID, step string) (result json.RawMessage, found bool, err error) {
	var out struct {
		Result json.RawMessage `json:"result"`
	}
	status, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(runID)+"/steps/"+url.PathEscape(step)+"/result", nil, nil, &out)
	var ae *Error
	if status == http.StatusNotFound && errors.As(err, &ae) && ae.Code == "no_result" {
		return nil, false, nil
	}
	return out.Result, err == nil, err
}
