package client

import (
	"bytes"
	"context"
	"net/http"
	"net/url"

	"docket.dev/docket/internal/job"
)

// Queue is a queue as the API shows it: its rule and what it holds now.
type Queue struct {
	job.Queue
	job.QueueStats
}

// Queues is the answer of a queue listing: the named queues by name and the default
// queue's counts.
type Queues struct {
	Queues  []Queue        `json:"queues"`
	Default job.QueueStats `json:"default_queue"`
}

// AppliedQueue is the answer to a queue's PUT.
type AppliedQueue struct {
	Queue   job.Queue `json:"queue"`
	Changed bool      `json:"changed"`
}

// ApplyQueue creates or changes the queue named name from a YAML or JSON document.
func (c *Client) ApplyQueue(ctx context.Context, name string, doc []byte) (AppliedQueue, error) {
	var q AppliedQueue
	_, err := c.do(ctx, http.MethodPut, "/api/v1/queues/"+url.PathEscape(name),
		http.Header{"Content-Type": {"application/yaml"}}, bytes.NewReader(doc), &q)
	return q, err
}

// Queues lists the queues with their counts.
func (c *Client) Queues(ctx context.Context) (Queues, error) {
	var out Queues
	_, err := c.do(ctx, http.MethodGet, "/api/v1/queues", nil, nil, &out)
	return out, err
}

// DeleteQueue deletes a queue that no job names.
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, "/api/v1/queues/"+url.PathEscape(name), nil, nil, nil)
	return err
}

// Queue returns one queue with its counts.
func (c *Client) Queue(ctx context.Context, name string) (Queue, error) {
	var q Queue
	_, err := c.do(ctx, http.MethodGet, "/api/v1/queues/"+url.PathEscape(name), nil, nil, &q)
	return q, err
}
