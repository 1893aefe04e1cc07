package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"docket.dev/docket/internal/job"
)

// TaskResult is one task of an array run: its index and input, how its newest attempt
// stands, and what that attempt reported.
type TaskResult struct {
	Index    int             `json:"index"`
	Input    string          `json:"input"`
	State    job.State       `json:"state"`
	ExitCode *int            `json:"exit_code"`
	Result   json.RawMessage `json:"result"`
	Files    []job.File      `json:"files"`
	RunID    string          `json:"run_id"`
	Attempt  int             `json:"attempt"`
	Message  string          `json:"message,omitempty"`
}

// Progress is how far an array run has got.
type Progress struct {
	Size      int `json:"size"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Ended     int `json:"ended"`
	Running   int `json:"running"`
	Queued    int `json:"queued"`
}

// Results is a page of an array run's tasks, in index order, with its progress.
type Results struct {
	RunID     string       `json:"run_id"`
	State     job.State    `json:"state"`
	Progress  Progress     `json:"progress"`
	Results   []TaskResult `json:"results"`
	NextAfter *int         `json:"next_after"`
}

// Results returns up to limit tasks of an array run after index after (-1: from the
// first); limit 0 returns only the progress.
func (c *Client) Results(ctx context.Context, runID string, after, limit int) (Results, error) {
	q := url.Values{"after": {strconv.Itoa(after)}, "limit": {strconv.Itoa(limit)}}
	var out Results
	_, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(runID)+"/results?"+q.Encode(), nil, nil, &out)
	return out, err
}
