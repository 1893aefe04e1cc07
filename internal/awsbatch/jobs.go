package awsbatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// awsJob is one AWS job: a run's attempts (a group run has one), and for an array's
// child its parent and index.
type awsJob struct {
	id       string
	attempts []job.Run
}

func (j awsJob) first() job.Run { return j.attempts[0] }
func (j awsJob) last() job.Run  { return j.attempts[len(j.attempts)-1] }

// status is the AWS status of a Docket state (DESIGN.md, Faces). A group run (an array)
// is only PENDING until it ends.
func status(r job.Run) string {
	if r.Kind != job.KindRun && !r.State.Terminal() {
		return "PENDING"
	}
	switch r.State {
	case job.StateWaiting:
		return "PENDING"
	case job.StateQueued:
		return "RUNNABLE"
	case job.StateDispatched, job.StatePending:
		return "STARTING"
	case job.StateRunning:
		return "RUNNING"
	case job.StateSucceeded:
		return "SUCCEEDED"
	}
	return "FAILED"
}

// statesOf are the Docket states whose runs may have an AWS status (before the group
// rule of status is applied).
func statesOf(s string) []job.State {
	switch s {
	case "SUBMITTED":
		return nil
	case "PENDING":
		return []job.State{job.StateWaiting, job.StateQueued, job.StateDispatched, job.StatePending, job.StateRunning}
	case "RUNNABLE":
		return []job.State{job.StateQueued}
	case "STARTING":
		return []job.State{job.StateDispatched, job.StatePending}
	case "RUNNING":
		return []job.State{job.StateRunning}
	case "SUCCEEDED":
		return []job.State{job.StateSucceeded}
	case "FAILED":
		return []job.State{job.StateFailed, job.StateCancelled, job.StateSkipped}
	}
	return nil
}

var awsStatuses = "SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED or FAILED"

// lookup finds the job with an AWS id: a run's id, or PARENT:INDEX for an array's child.
func (h *Handler) lookup(ctx context.Context, id string) (awsJob, error) {
	if len(id) > 200 {
		return awsJob{}, job.ErrNotFound
	}
	runID := id
	if parent, index, ok := strings.Cut(id, ":"); ok {
		i, err := strconv.Atoi(index)
		if err != nil || i < 0 {
			return awsJob{}, job.ErrNotFound
		}
		task, err := h.opts.Store.RunTask(ctx, parent, i)
		if err != nil {
			return awsJob{}, err
		}
		runID = task.ID
	}
	attempts, err := h.opts.Store.RunAttempts(ctx, runID)
	if err != nil {
		return awsJob{}, err
	}
	return awsJob{id: id, attempts: attempts}, nil
}

// jobOf is the job a run found in a listing stands for: its first attempt and every
// later one, named by the first's id (PARENT:INDEX for an array's child).
func (h *Handler) jobOf(ctx context.Context, r job.Run) (awsJob, error) {
	first := r
	for i := 0; first.RetryOf != "" && i < 1000; i++ {
		prev, err := h.opts.Store.RunGet(ctx, first.RetryOf)
		if err != nil {
			return awsJob{}, err
		}
		first = prev
	}
	attempts, err := h.opts.Store.RunAttempts(ctx, first.ID)
	if err != nil {
		return awsJob{}, err
	}
	id := first.ID
	if first.Parent != "" && first.TaskIndex != nil {
		id = fmt.Sprintf("%s:%d", first.Parent, *first.TaskIndex)
	}
	return awsJob{id: id, attempts: attempts}, nil
}

// revisions caches the revisions one request reads.
type revisions map[string]job.Definition

func (h *Handler) spec(ctx context.Context, cache revisions, r job.Run) job.Spec {
	key := r.Job + ":" + strconv.Itoa(r.Revision)
	def, ok := cache[key]
	if !ok {
		d, err := h.opts.Store.DefinitionRevision(ctx, r.Job, r.Revision)
		if err != nil {
			d = job.Definition{Spec: job.Spec{Name: r.Job}}
		}
		cache[key], def = d, d
	}
	return r.Overrides.Apply(def.ForStep(r.Step))
}

func ms(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

// put sets m[k] to v unless v is nil (AWS omits a time without a value).
func put(m map[string]any, k string, v any) {
	if v != nil {
		m[k] = v
	}
}

// jobName is the name the submission gave, or the job's.
func jobName(r job.Run) string {
	if r.Overrides != nil && r.Overrides.Name != "" {
		return r.Overrides.Name
	}
	return r.Job
}

// logStream is the run's log stream as AWS Batch names one: DEFINITION/default/RUN.
func logStream(r job.Run) string { return r.Job + "/default/" + r.ID }

// detail is a job as DescribeJobs answers it.
func (h *Handler) detail(ctx context.Context, cache revisions, budget *int, j awsJob) map[string]any {
	first, last := j.first(), j.last()
	spec := h.spec(ctx, cache, last)
	st := status(last)
	container := map[string]any{"image": spec.Image, "resourceRequirements": requirementsOf(spec)}
	if len(spec.Command) > 0 {
		container["command"] = runCommand(spec.Command, first.Params)
	}
	env := map[string]string{}
	for k, v := range spec.Env {
		env[k] = v
	}
	for k, v := range last.Env {
		env[k] = v
	}
	if len(env) > 0 {
		container["environment"] = envList(env)
	}
	if last.ExitCode != nil {
		container["exitCode"] = *last.ExitCode
	}
	if last.Reason != "" && last.State.Terminal() {
		container["reason"] = string(last.Reason)
	}
	if last.Kind == job.KindRun && last.StartedAt != nil {
		container["logStreamName"] = logStream(last)
	}
	d := map[string]any{
		"jobName":              jobName(first),
		"jobId":                j.id,
		"jobArn":               h.jobARN(j.id),
		"jobQueue":             h.queueARN(awsQueue(first.Queue)),
		"status":               st,
		"statusReason":         last.Message,
		"createdAt":            first.CreatedAt.UnixMilli(),
		"jobDefinition":        h.definitionARN(first.Job, first.Revision),
		"container":            container,
		"retryStrategy":        retryStrategyOf(spec),
		"dependsOn":            []any{},
		"isCancelled":          last.State == job.StateCancelled && last.StartedAt == nil,
		"isTerminated":         last.CancelledBy != "" && last.StartedAt != nil,
		"platformCapabilities": []string{"EC2"},
	}
	if first.Priority > 0 {
		d["schedulingPriority"] = first.Priority
	}
	if p := awsParameters(first.Params); len(p) > 0 {
		d["parameters"] = p
	}
	if spec.Deadline > 0 {
		d["timeout"] = map[string]any{"attemptDurationSeconds": int(time.Duration(spec.Deadline).Seconds())}
	}
	put(d, "startedAt", ms(last.StartedAt))
	if last.State.Terminal() {
		put(d, "stoppedAt", ms(last.FinishedAt))
	}
	attempts := []map[string]any{}
	for _, a := range j.attempts {
		if !a.State.Terminal() || a.StartedAt == nil || a.Kind != job.KindRun {
			continue
		}
		c := map[string]any{"logStreamName": logStream(a)}
		if a.ExitCode != nil {
			c["exitCode"] = *a.ExitCode
		}
		if a.Reason != "" {
			c["reason"] = string(a.Reason)
		}
		at := map[string]any{"container": c, "statusReason": a.Message}
		put(at, "startedAt", ms(a.StartedAt))
		put(at, "stoppedAt", ms(a.FinishedAt))
		attempts = append(attempts, at)
	}
	d["attempts"] = attempts
	switch {
	case first.Kind == job.KindArray && first.Group != nil:
		d["arrayProperties"] = map[string]any{"size": first.Group.Size, "statusSummary": h.summary(ctx, first, budget)}
	case first.TaskIndex != nil && first.Parent != "":
		d["arrayProperties"] = map[string]any{"index": *first.TaskIndex}
	}
	return d
}

// maxSummary caps the children one request reads for arrays' statusSummary; past it a
// summary is made from the group's counters.
const maxSummary = 10 * store.MaxLimit

// summary counts an array's children by AWS status (each task's newest attempt), reading
// them while budget lasts; then from the group's counters (the rest counted PENDING).
func (h *Handler) summary(ctx context.Context, parent job.Run, budget *int) map[string]int {
	out := map[string]int{}
	g := parent.Group
	if *budget < g.Size {
		out["SUCCEEDED"], out["FAILED"], out["PENDING"] = g.Succeeded, g.Failed, g.Size-g.Succeeded-g.Failed
		return out
	}
	var all []job.Run
	cursor := ""
	for len(all) < maxSummary {
		page, next, err := h.opts.Store.RunList(ctx, store.RunFilter{Parent: parent.ID, Limit: store.MaxLimit, Cursor: cursor})
		if err != nil {
			break
		}
		all = append(all, page...)
		*budget -= len(page)
		if next == "" {
			break
		}
		cursor = next
	}
	for _, r := range group.Latest(all) {
		out[status(r)]++
	}
	return out
}

type describeJobsRequest struct {
	Jobs []string `json:"jobs"`
}

// describeJobs answers each job it knows, in the order asked; unknown ids are left out.
func (h *Handler) describeJobs(ctx context.Context, body []byte) (any, error) {
	var req describeJobsRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if len(req.Jobs) == 0 || len(req.Jobs) > 100 {
		return nil, clientErr("jobs: %d ids given; give 1 to 100", len(req.Jobs))
	}
	cache, budget := revisions{}, 2*maxSummary
	out := []map[string]any{}
	for _, id := range req.Jobs {
		j, err := h.lookup(ctx, id)
		if errors.Is(err, job.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h.detail(ctx, cache, &budget, j))
	}
	return map[string]any{"jobs": out}, nil
}

// jobARN is arn:aws:batch:REGION:ACCOUNT:job/ID.
func (h *Handler) jobARN(id string) string {
	return fmt.Sprintf("arn:aws:batch:%s:%s:job/%s", h.opts.Region, h.opts.Account, id)
}

type stopRequest struct {
	JobID  string `json:"jobId"`
	Reason string `json:"reason"`
}

// cancelJob cancels a job that has not started (AWS: not yet STARTING); a started one
// runs on, as in AWS.
func (h *Handler) cancelJob(ctx context.Context, body []byte) (any, error) {
	return h.stop(ctx, body, false)
}

// terminateJob also stops a job that has started.
func (h *Handler) terminateJob(ctx context.Context, body []byte) (any, error) {
	return h.stop(ctx, body, true)
}

func (h *Handler) stop(ctx context.Context, body []byte, started bool) (any, error) {
	var req stopRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if req.JobID == "" {
		return nil, clientErr("jobId: is required")
	}
	if req.Reason == "" {
		return nil, clientErr("reason: is required: why the job is stopped")
	}
	j, err := h.lookup(ctx, req.JobID)
	if errors.Is(err, job.ErrNotFound) {
		return nil, clientErr("jobId: %q is not a job this server knows", job.Truncate(req.JobID, 200))
	}
	if err != nil {
		return nil, err
	}
	last := j.last()
	if err := h.mayChangeJob(ctx, last.Job, last.Revision); err != nil {
		return nil, err
	}
	switch status(last) {
	case "SUCCEEDED", "FAILED":
		return struct{}{}, nil
	case "STARTING", "RUNNING":
		if !started {
			return struct{}{}, nil
		}
	}
	who := "an AWS request"
	if name := token(ctx).Name; name != "" {
		who = name
	}
	by := fmt.Sprintf("%s (%s)", who, job.Truncate(req.Reason, 200))
	if _, err := h.opts.Canceller.Cancel(ctx, last.ID, by); err != nil && !errors.Is(err, job.ErrConflict) {
		return nil, err
	}
	h.opts.Logger.Info("run cancel requested", "run_id", last.ID, "by", by, "face", "aws")
	return struct{}{}, nil
}

// dependsOnOf lists the runs a job waits (or waited) for, as AWS's dependsOn.
func dependsOnOf(r job.Run) []map[string]string {
	out := make([]map[string]string, 0, len(r.WaitsFor))
	for _, id := range r.WaitsFor {
		out = append(out, map[string]string{"jobId": id})
	}
	return out
}
