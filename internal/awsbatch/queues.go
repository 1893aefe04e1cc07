package awsbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// AWS job queues are Docket's queues (package job's Queue), by name. AWS's "default" is
// Docket's default queue (job.DefaultQueue), which every server has and which has no
// settings of its own. A queue's priority and state are the Docket queue's: a DISABLED
// queue's queued runs are not started until it is ENABLED again. The default queue is
// always enabled.

// defaultQueue is AWS's name for Docket's default queue.
const defaultQueue = definition.ReservedQueueName

// awsQueue is the AWS name of a Docket queue.
func awsQueue(q string) string {
	if q == job.DefaultQueue {
		return defaultQueue
	}
	return q
}

// queueRef reads a queue's name or ARN as given.
func queueRef(s string) string {
	if i := strings.LastIndex(s, ":job-queue/"); strings.HasPrefix(s, "arn:") && i >= 0 {
		return s[i+len(":job-queue/"):]
	}
	return s
}

// queueName reads a queue's name or ARN and returns the Docket queue it is
// (job.DefaultQueue for default), refusing one the server does not have.
func (h *Handler) queueName(ctx context.Context, field, s string) (string, error) {
	name := queueRef(s)
	switch {
	case name == "":
		return "", clientErr("%s: is required", field)
	case name == defaultQueue:
		return job.DefaultQueue, nil
	case !definition.ValidQueueName(name):
		return "", clientErr("%s: job queue %q does not exist (Docket's queue names are lowercase letters, digits and '-'; aws batch describe-job-queues lists them)", field, job.Truncate(name, 200))
	}
	if _, err := h.opts.Store.QueueGet(ctx, name); errors.Is(err, job.ErrNotFound) {
		return "", clientErr("%s: job queue %q does not exist; aws batch describe-job-queues lists this server's queues", field, name)
	} else if err != nil {
		return "", err
	}
	return name, nil
}

func (h *Handler) queueARN(name string) string {
	return fmt.Sprintf("arn:aws:batch:%s:%s:job-queue/%s", h.opts.Region, h.opts.Account, name)
}

// jobQueue is a Docket queue as AWS describes a job queue.
func (h *Handler) jobQueue(q job.Queue) map[string]any {
	name := awsQueue(q.Name)
	reason := "Docket's default queue: no limits of its own beyond each server's --parallelism"
	if q.Name != job.DefaultQueue {
		var limits []string
		if q.MaxRunning > 0 {
			limits = append(limits, fmt.Sprintf("at most %d running", q.MaxRunning))
		}
		if q.MaxStartsPerSecond > 0 {
			limits = append(limits, job.RateText(q.MaxStartsPerSecond))
		}
		reason = "Docket queue " + q.Name + ": no limits (docket queues set changes them)"
		if len(limits) > 0 {
			reason = "Docket queue " + q.Name + ": " + strings.Join(limits, ", ")
		}
		if q.Disabled {
			reason += "; disabled: its queued jobs wait until it is enabled"
		}
	}
	return map[string]any{
		"jobQueueName": name, "jobQueueArn": h.queueARN(name), "state": awsState(q.Disabled), "status": "VALID",
		"statusReason": reason, "priority": q.Priority, "jobQueueType": "ECS",
		"computeEnvironmentOrder": []map[string]any{{"order": 1, "computeEnvironment": h.ceARN()}},
	}
}

type describeQueuesRequest struct {
	JobQueues  []string `json:"jobQueues"`
	MaxResults *int     `json:"maxResults"`
	NextToken  string   `json:"nextToken"`
}

// describeJobQueues lists the queues (the ones named, or all), default first, then by
// name; the token is the name of the last queue given.
func (h *Handler) describeJobQueues(ctx context.Context, body []byte) (any, error) {
	var req describeQueuesRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if len(req.JobQueues) > 100 {
		return nil, clientErr("jobQueues: %d given; at most 100", len(req.JobQueues))
	}
	limit := 100
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > 100 {
			return nil, clientErr("maxResults: %d is not from 1 to 100", *req.MaxResults)
		}
		limit = *req.MaxResults
	}
	// Queues sort by their Docket names: the default queue ("") first. The token is the
	// AWS name of the last queue given, a cursor that holds if that queue is deleted.
	after, paging := "", req.NextToken != ""
	if paging {
		name, ok := decodeCursor(req.NextToken)
		if !ok || name == "" {
			return nil, clientErr("nextToken: %q is not a token this server gave", job.Truncate(req.NextToken, 100))
		}
		if name != defaultQueue {
			after = name
		}
	}
	named := map[string]bool{}
	for _, s := range req.JobQueues {
		named[queueRef(s)] = true
	}
	stored, err := h.opts.Store.QueueList(ctx)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	resp := map[string]any{}
	for _, q := range append([]job.Queue{{Name: job.DefaultQueue}}, stored...) {
		switch {
		case q.Name == defaultQueue: // a Docket queue named default is hidden behind Docket's default queue
			continue
		case paging && q.Name <= after:
			continue
		case len(named) > 0 && !named[awsQueue(q.Name)]:
			continue
		}
		if len(out) == limit {
			resp["nextToken"] = tokenPrefix + encodeCursor(out[len(out)-1]["jobQueueName"].(string))
			break
		}
		out = append(out, h.jobQueue(q))
	}
	resp["jobQueues"] = out
	return resp, nil
}

type changeQueueRequest struct {
	JobQueueName            string `json:"jobQueueName"` // CreateJobQueue
	JobQueue                string `json:"jobQueue"`     // UpdateJobQueue, DeleteJobQueue
	State                   string `json:"state"`
	Priority                *int   `json:"priority"`
	ComputeEnvironmentOrder []struct {
		Order              int    `json:"order"`
		ComputeEnvironment string `json:"computeEnvironment"`
	} `json:"computeEnvironmentOrder"`
	Tags map[string]string `json:"tags"`
	// Known members Docket does not do; a request that sets one is refused, naming it.
	SchedulingPolicyArn      json.RawMessage `json:"schedulingPolicyArn"`
	JobStateTimeLimitActions json.RawMessage `json:"jobStateTimeLimitActions"`
	ServiceEnvironmentOrder  json.RawMessage `json:"serviceEnvironmentOrder"`
}

// awsState is AWS's word for a queue's state.
func awsState(disabled bool) string {
	if disabled {
		return "DISABLED"
	}
	return "ENABLED"
}

// check refuses what a Docket queue cannot be: a scheduling policy's, or a state other
// than ENABLED or DISABLED. The compute environments are the server's one executor
// whatever the order names.
func (req changeQueueRequest) check() error {
	if err := unsupported(map[string]json.RawMessage{"schedulingPolicyArn": req.SchedulingPolicyArn,
		"jobStateTimeLimitActions": req.JobStateTimeLimitActions, "serviceEnvironmentOrder": req.ServiceEnvironmentOrder}); err != nil {
		return err
	}
	switch req.State {
	case "", "ENABLED", "DISABLED":
	default:
		return clientErr("state: %q is not ENABLED or DISABLED", job.Truncate(req.State, 40))
	}
	if p := req.Priority; p != nil && (*p < 0 || *p > job.MaxPriority) {
		return clientErr("priority: %d is not from 0 to %d", *p, job.MaxPriority)
	}
	if len(req.ComputeEnvironmentOrder) > 3 {
		return clientErr("computeEnvironmentOrder: %d given; at most 3", len(req.ComputeEnvironmentOrder))
	}
	return nil
}

// teamShared refuses a key limited to some teams' jobs: a queue is shared by all teams,
// as Docket's own API says.
func teamShared(ctx context.Context, what string) error {
	if tok := token(ctx); len(tok.Teams) > 0 {
		return &apiError{status: 403, typ: "AccessDeniedException",
			msg: fmt.Sprintf("%s is limited to some teams' jobs; it may not %s, which all teams share", tok.Name, what)}
	}
	return nil
}

// createJobQueue makes a Docket queue of the name, priority and state, with no limits of
// its own (docket queues set gives it some).
func (h *Handler) createJobQueue(ctx context.Context, body []byte) (any, error) {
	var req changeQueueRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	name := req.JobQueueName
	switch {
	case name == "":
		return nil, clientErr("jobQueueName: is required")
	case name == defaultQueue:
		return nil, clientErr("jobQueueName: job queue default already exists: it is Docket's default queue")
	case !definition.ValidQueueName(name):
		return nil, clientErr("jobQueueName: %q is not a Docket queue name: use lowercase letters, digits and '-', starting and ending with a letter or digit (at most %d)", job.Truncate(name, 200), definition.MaxNameLength)
	case req.Priority == nil:
		return nil, clientErr("priority: is required (0 to %d, higher first)", job.MaxPriority)
	}
	if err := teamShared(ctx, "create a job queue"); err != nil {
		return nil, err
	}
	if _, err := h.opts.Store.QueueGet(ctx, name); err == nil {
		return nil, clientErr("jobQueueName: job queue %s already exists (aws batch update-job-queue changes it)", name)
	} else if !errors.Is(err, job.ErrNotFound) {
		return nil, err
	}
	q, _, err := h.opts.Store.QueuePut(ctx, job.Queue{Name: name, Priority: *req.Priority, Disabled: req.State == "DISABLED"}, h.now().UTC())
	if err != nil {
		return nil, err
	}
	h.opts.Logger.Info("queue set", "queue", q.Name, "priority", q.Priority, "disabled", q.Disabled, "face", "aws")
	return map[string]any{"jobQueueName": q.Name, "jobQueueArn": h.queueARN(q.Name)}, nil
}

// updateJobQueue changes a Docket queue's priority and state; its limits stay as they
// are.
func (h *Handler) updateJobQueue(ctx context.Context, body []byte) (any, error) {
	var req changeQueueRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := req.check(); err != nil {
		return nil, err
	}
	name, err := h.queueName(ctx, "jobQueue", req.JobQueue)
	if err != nil {
		return nil, err
	}
	if name == job.DefaultQueue {
		if req.Priority != nil && *req.Priority != 0 {
			return nil, clientErr("priority: Docket's default queue has priority 0, which cannot change; create a queue with a higher one")
		}
		if req.State == "DISABLED" {
			return nil, clientErr("state: Docket's default queue is always enabled; create a queue to disable")
		}
		return map[string]any{"jobQueueName": defaultQueue, "jobQueueArn": h.queueARN(defaultQueue)}, nil
	}
	if err := teamShared(ctx, "change a job queue"); err != nil {
		return nil, err
	}
	q, err := h.opts.Store.QueueGet(ctx, name)
	if err != nil {
		return nil, err
	}
	if req.Priority != nil {
		q.Priority = *req.Priority
	}
	if req.State != "" {
		q.Disabled = req.State == "DISABLED"
	}
	q, changed, err := h.opts.Store.QueuePut(ctx, q, h.now().UTC())
	if err != nil {
		return nil, err
	}
	if changed {
		h.opts.Logger.Info("queue set", "queue", q.Name, "priority", q.Priority, "disabled", q.Disabled, "face", "aws")
		h.opts.Queued() // a new priority or enabling may let runs start now
	}
	return map[string]any{"jobQueueName": q.Name, "jobQueueArn": h.queueARN(q.Name)}, nil
}

// deleteJobQueue deletes a Docket queue that no job names (a Docket job may name its
// queue; AWS's definitions never do).
func (h *Handler) deleteJobQueue(ctx context.Context, body []byte) (any, error) {
	var req changeQueueRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	name, err := h.queueName(ctx, "jobQueue", req.JobQueue)
	if err != nil {
		return nil, err
	}
	if name == job.DefaultQueue {
		return nil, clientErr("jobQueue: default is Docket's default queue, which every server has; it cannot be deleted")
	}
	if err := teamShared(ctx, "delete a job queue"); err != nil {
		return nil, err
	}
	if err := h.opts.Store.QueueDelete(ctx, name); err != nil {
		return nil, err
	}
	h.opts.Logger.Info("queue deleted", "queue", name, "face", "aws")
	return map[string]any{}, nil
}
