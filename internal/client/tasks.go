package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"docket.dev/docket/internal/job"
)

// TaskStart is what the server tells a pod of an array's Indexed Job to do.
type TaskStart = job.TaskStart

// TaskStart asks what attempt of task index of the array run arrayID is to do.
func (c *Client) TaskStart(ctx context.Context, arrayID string, index, attempt int) (TaskStart, error) {
	var out TaskStart
	path := fmt.Sprintf("/api/v1/runs/%s/tasks/%d/start?attempt=%s", url.PathEscape(arrayID), index, strconv.Itoa(attempt))
	_, err := c.do(ctx, http.MethodGet, path, nil, nil, &out)
	return out, err
}
