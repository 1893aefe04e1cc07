package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"docket.dev/docket/internal/job"
)

// TaskStart is what the server tells a pod of an array's Indexed Job to do: run the task
// attempt RunID with Command and Env (and Inputs input files), skip it, wait, or stop,
// Message saying why.
type TaskStart struct {
	Action  job.TaskAction    `json:"action"`
	RunID   string            `json:"run_id,omitempty"`
	Attempt int               `json:"attempt"`
	Command []string          `json:"command,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Inputs  int               `json:"inputs"`
	Message string            `json:"message,omitempty"`
}

// TaskStart asks what attempt of task index of the array run arrayID is to do.
func (c *Client) TaskStart(ctx context.Context, arrayID string, index, attempt int) (TaskStart, error) {
	var out TaskStart
	path := fmt.Sprintf("/api/v1/runs/%s/tasks/%d/start?attempt=%s", url.PathEscape(arrayID), index, strconv.Itoa(attempt))
	_, err := c.do(ctx, http.MethodGet, path, nil, nil, &out)
	return out, err
}
