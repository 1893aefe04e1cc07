package client

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"docket.dev/docket/internal/job"
)

// DryJob is what applying a job would do: Change (created, changed or unchanged), Diff
// (the fields that change) and the job as it would be, with its next runs.
type DryJob struct {
	Job
	DryRun bool     `json:"dry_run"`
	Change string   `json:"change"`
	Diff   []string `json:"diff,omitempty"`
}

// DryQueue is what setting a queue would do.
type DryQueue struct {
	Queue  job.Queue `json:"queue"`
	Change string    `json:"change"`
	Diff   []string  `json:"diff,omitempty"`
	DryRun bool      `json:"dry_run"`
}

// RunPreview is what a run would be and run: the run as it would be stored, the
// rendered command and env, and on Kubernetes the batch/v1 Job (as JSON).
type RunPreview struct {
	DryRun   bool              `json:"dry_run"`
	Run      job.Run           `json:"run"`
	Task     *job.Run          `json:"task,omitempty"`
	Image    string            `json:"image"`
	Command  []string          `json:"command"`
	Env      map[string]string `json:"env"`
	CPU      string            `json:"cpu"`
	Memory   string            `json:"memory"`
	Deadline job.Duration      `json:"deadline"`
	Manifest json.RawMessage   `json:"manifest,omitempty"`
}

// DryApplyJob asks the server what applying def would do, counting the queues and jobs
// named as existing (those a file sets before def); nothing is stored.
func (c *Client) DryApplyJob(ctx context.Context, name string, def []byte, queues, jobs []string) (DryJob, error) {
	var j DryJob
	q := url.Values{"dry_run": {"true"}}
	if len(queues) > 0 {
		q.Set("assume_queues", strings.Join(queues, ","))
	}
	if len(jobs) > 0 {
		q.Set("assume_jobs", strings.Join(jobs, ","))
	}
	_, err := c.do(ctx, http.MethodPut, "/api/v1/jobs/"+url.PathEscape(name)+"?"+q.Encode(),
		http.Header{"Content-Type": {"application/yaml"}}, bytes.NewReader(def), &j)
	return j, err
}

// DryApplyQueue asks the server what setting the queue would do; nothing is stored.
func (c *Client) DryApplyQueue(ctx context.Context, name string, doc []byte) (DryQueue, error) {
	var q DryQueue
	_, err := c.do(ctx, http.MethodPut, "/api/v1/queues/"+url.PathEscape(name)+"?dry_run=true",
		http.Header{"Content-Type": {"application/yaml"}}, bytes.NewReader(doc), &q)
	return q, err
}

// PreviewRun asks the server what a run of the job would be; nothing is stored or run.
func (c *Client) PreviewRun(ctx context.Context, name string, req RunRequest) (RunPreview, error) {
	body, header, err := jsonBody(req)
	if err != nil {
		return RunPreview{}, err
	}
	var p RunPreview
	_, err = c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(name)+"/runs?dry_run=true", header, body, &p)
	return p, err
}
