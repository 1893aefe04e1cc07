package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"docket.dev/docket/internal/job"
)

// An array run's results, as the server answers them.
type (
	TaskResult = job.TaskResult
	Results    = job.Results
	Progress   = job.Progress
)

// Results returns up to limit tasks of an array run after index after (-1: from the
// first); limit 0 returns only the progress.
func (c *Client) Results(ctx context.Context, runID string, after, limit int) (Results, error) {
	q := url.Values{"after": {strconv.Itoa(after)}, "limit": {strconv.Itoa(limit)}}
	var out Results
	_, err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(runID)+"/results?"+q.Encode(), nil, nil, &out)
	return out, err
}
