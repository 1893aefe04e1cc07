package awsbatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

type listFilter struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

type listJobsRequest struct {
	JobQueue       string       `json:"jobQueue"`
	ArrayJobID     string       `json:"arrayJobId"`
	MultiNodeJobID string       `json:"multiNodeJobId"`
	JobStatus      string       `json:"jobStatus"`
	Filters        []listFilter `json:"filters"`
	MaxResults     *int         `json:"maxResults"`
	NextToken      string       `json:"nextToken"`
}

// maxScan bounds the runs one ListJobs call reads; a page that found fewer jobs still
// carries a token to go on from.
const maxScan = 5000

// match says whether a job passes a listing's filters.
type match func(j awsJob) bool

// listJobs lists a queue's jobs (or an array's children), newest first: by status
// (RUNNING when neither a status nor filters are given), or by the filters (which, as in
// AWS, list every status). The token is the id of the last run read: it always advances.
func (h *Handler) listJobs(ctx context.Context, body []byte) (any, error) {
	var req listJobsRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if req.MultiNodeJobID != "" {
		return nil, clientErr("multiNodeJobId: multi-node jobs are not supported by Docket's AWS Batch face")
	}
	limit, most := 100, 1000
	if len(req.Filters) > 0 {
		most = 100
	}
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > most {
			return nil, clientErr("maxResults: %d is not from 1 to %d", *req.MaxResults, most)
		}
		limit = *req.MaxResults
	}
	f := store.RunFilter{Limit: min(store.MaxLimit, max(limit, 100))}
	var keep []match
	switch {
	case req.ArrayJobID != "":
		parent, err := h.opts.Store.RunGet(ctx, req.ArrayJobID)
		if errors.Is(err, job.ErrNotFound) || (err == nil && parent.Kind != job.KindArray) {
			return nil, clientErr("arrayJobId: %q is not an array job", job.Truncate(req.ArrayJobID, 200))
		}
		if err != nil {
			return nil, err
		}
		f.Parent = parent.ID
	case req.JobQueue != "":
		queue, err := h.queueName(ctx, "jobQueue", req.JobQueue)
		if err != nil {
			return nil, err
		}
		// The store reads the queue's own top-level runs; a job is kept by its first
		// attempt's queue (its retries keep it).
		f.Queue, f.TopLevel = &queue, true
		keep = append(keep, func(j awsJob) bool { return j.first().Parent == "" && j.first().Queue == queue })
	default:
		return nil, clientErr("jobQueue: is required (or arrayJobId)")
	}
	if len(req.Filters) > 0 {
		for i, flt := range req.Filters {
			m, err := filterOf(fmt.Sprintf("filters[%d]", i), flt)
			if err != nil {
				return nil, err
			}
			keep = append(keep, m)
		}
	} else {
		want := req.JobStatus
		if want == "" {
			want = "RUNNING"
		}
		states := statesOf(want)
		if states == nil && want != "SUBMITTED" {
			return nil, clientErr("jobStatus: %q is not %s", job.Truncate(want, 40), awsStatuses)
		}
		if states == nil {
			return map[string]any{"jobSummaryList": []any{}}, nil // Docket stores runs queued at once
		}
		f.States = states
		keep = append(keep, func(j awsJob) bool { return status(j.last()) == want })
	}
	if req.NextToken != "" {
		id, ok := decodeCursor(req.NextToken)
		if !ok || id == "" {
			return nil, clientErr("nextToken: %q is not a token this server gave", job.Truncate(req.NextToken, 100))
		}
		f.Cursor = id
	}
	out := []map[string]any{}
	seen := map[string]bool{}
	scanned, next := 0, ""
scan:
	for scanned < maxScan {
		runs, cursor, err := h.opts.Store.RunList(ctx, f)
		if err != nil {
			return nil, err
		}
		for i, r := range runs {
			scanned++
			f.Cursor = r.ID
			j, err := h.jobOf(ctx, r)
			if err != nil {
				return nil, err
			}
			// A job appears once, by its newest attempt.
			if j.last().ID != r.ID || seen[j.id] || !all(keep, j) {
				continue
			}
			seen[j.id] = true
			out = append(out, h.summaryOf(ctx, j))
			if len(out) == limit {
				if i < len(runs)-1 || cursor != "" {
					next = r.ID // there are more runs to read
				}
				break scan
			}
		}
		if cursor == "" {
			break
		}
		if scanned >= maxScan {
			next = f.Cursor
		}
	}
	resp := map[string]any{"jobSummaryList": out}
	if next != "" {
		resp["nextToken"] = tokenPrefix + encodeCursor(next)
	}
	return resp, nil
}

func all(ms []match, j awsJob) bool {
	for _, m := range ms {
		if !m(j) {
			return false
		}
	}
	return true
}

// filterOf reads one of ListJobs' filters.
func filterOf(field string, f listFilter) (match, error) {
	if len(f.Values) != 1 {
		return nil, clientErr("%s.values: give one value", field)
	}
	v := f.Values[0]
	switch f.Name {
	case "JOB_NAME":
		prefix, glob := strings.CutSuffix(v, "*")
		if strings.Contains(prefix, "*") {
			return nil, clientErr("%s.values: %q may hold * only at its end", field, job.Truncate(v, 200))
		}
		return func(j awsJob) bool {
			n := jobName(j.first())
			return n == v || glob && strings.HasPrefix(n, prefix)
		}, nil
	case "JOB_DEFINITION":
		name, rev, err := parseDefinition(field+".values", v)
		if err != nil {
			return nil, err
		}
		return func(j awsJob) bool {
			return j.first().Job == name && (rev == 0 || j.first().Revision == rev)
		}, nil
	case "BEFORE_CREATED_AT", "AFTER_CREATED_AT":
		at, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, clientErr("%s.values: %q is not a time in milliseconds since 1970", field, job.Truncate(v, 40))
		}
		before := f.Name == "BEFORE_CREATED_AT"
		return func(j awsJob) bool {
			c := j.first().CreatedAt.UnixMilli()
			return before && c < at || !before && c > at
		}, nil
	}
	return nil, clientErr("%s.name: %q is not JOB_NAME, JOB_DEFINITION, BEFORE_CREATED_AT or AFTER_CREATED_AT", field, job.Truncate(f.Name, 40))
}

// summaryOf is a job as ListJobs answers it.
func (h *Handler) summaryOf(_ context.Context, j awsJob) map[string]any {
	first, last := j.first(), j.last()
	s := map[string]any{
		"jobId":         j.id,
		"jobName":       jobName(first),
		"jobArn":        h.jobARN(j.id),
		"createdAt":     first.CreatedAt.UnixMilli(),
		"status":        status(last),
		"statusReason":  last.Message,
		"jobDefinition": h.definitionARN(first.Job, first.Revision),
	}
	put(s, "startedAt", ms(last.StartedAt))
	if last.State.Terminal() {
		put(s, "stoppedAt", ms(last.FinishedAt))
	}
	c := map[string]any{}
	if last.ExitCode != nil {
		c["exitCode"] = *last.ExitCode
	}
	if last.Reason != "" && last.State.Terminal() {
		c["reason"] = string(last.Reason)
	}
	if len(c) > 0 {
		s["container"] = c
	}
	switch {
	case first.Kind == job.KindArray && first.Group != nil:
		s["arrayProperties"] = map[string]any{"size": first.Group.Size}
	case first.TaskIndex != nil && first.Parent != "":
		s["arrayProperties"] = map[string]any{"index": *first.TaskIndex}
	}
	return s
}

func (h *Handler) ceName() string { return "docket-" + h.opts.Executor }

func (h *Handler) ceARN() string {
	return fmt.Sprintf("arn:aws:batch:%s:%s:compute-environment/%s", h.opts.Region, h.opts.Account, h.ceName())
}

type describeCERequest struct {
	ComputeEnvironments []string `json:"computeEnvironments"`
}

// describeComputeEnvironments answers the server's one executor.
func (h *Handler) describeComputeEnvironments(_ context.Context, body []byte) (any, error) {
	var req describeCERequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	out := []map[string]any{}
	if len(req.ComputeEnvironments) == 0 || slices.Contains(req.ComputeEnvironments, h.ceName()) || slices.Contains(req.ComputeEnvironments, h.ceARN()) {
		orchestration := "ECS"
		if h.opts.Executor == "kubernetes" {
			orchestration = "EKS"
		}
		out = append(out, map[string]any{
			"computeEnvironmentName": h.ceName(), "computeEnvironmentArn": h.ceARN(), "state": "ENABLED", "status": "VALID",
			"statusReason": "Docket's " + h.opts.Executor + " executor", "type": "MANAGED", "containerOrchestrationType": orchestration,
		})
	}
	return map[string]any{"computeEnvironments": out}, nil
}
