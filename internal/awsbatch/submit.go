package awsbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

type containerOverrides struct {
	Command              []string              `json:"command"`
	Environment          []keyValue            `json:"environment"`
	ResourceRequirements []resourceRequirement `json:"resourceRequirements"`
	Vcpus                *int                  `json:"vcpus"`
	Memory               *int                  `json:"memory"`
	InstanceType         string                `json:"instanceType"`
}

type dependency struct {
	JobID string `json:"jobId"`
	Type  string `json:"type"`
}

type submitRequest struct {
	JobName            string              `json:"jobName"`
	JobQueue           string              `json:"jobQueue"`
	JobDefinition      string              `json:"jobDefinition"`
	ArrayProperties    *struct{ Size int } `json:"arrayProperties"`
	DependsOn          []dependency        `json:"dependsOn"`
	Parameters         map[string]string   `json:"parameters"`
	ContainerOverrides *containerOverrides `json:"containerOverrides"`
	RetryStrategy      *retryStrategy      `json:"retryStrategy"`
	Timeout            *jobTimeout         `json:"timeout"`
	Tags               map[string]string   `json:"tags"`
	// SchedulingPriorityOverride is the run's priority within its queue.
	SchedulingPriorityOverride *int            `json:"schedulingPriorityOverride"`
	NodeOverrides              json.RawMessage `json:"nodeOverrides"`
	EksOverrides               json.RawMessage `json:"eksPropertiesOverride"`
	EcsOverrides               json.RawMessage `json:"ecsPropertiesOverride"`
}

// jobNamePattern is AWS's rule for a job's name.
var jobNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// idemKey carries the request's Idempotency-Key header to the operation.
type idemKey struct{}

// idempotencyTag is the SubmitJob tag that works as an Idempotency-Key header.
const idempotencyTag = "docket:idempotency-key"

// submitJob makes a run of the definition's revision: an array run with arrayProperties,
// the submission's overrides (command with Ref:: parameters substituted, resources,
// retries, timeout, env, name) kept with it. An Idempotency-Key header makes a repeated
// submission answer the first run.
func (h *Handler) submitJob(ctx context.Context, body []byte) (any, error) {
	var req submitRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := unsupported(map[string]json.RawMessage{"nodeOverrides": req.NodeOverrides, "eksPropertiesOverride": req.EksOverrides, "ecsPropertiesOverride": req.EcsOverrides}); err != nil {
		return nil, err
	}
	if !jobNamePattern.MatchString(req.JobName) {
		return nil, clientErr("jobName: %q must be 1 to 128 letters, digits, '-' and '_', starting with a letter or digit", job.Truncate(req.JobName, 200))
	}
	queue, err := h.queueName(ctx, "jobQueue", req.JobQueue)
	if err != nil {
		return nil, err
	}
	name, rev, err := parseDefinition("jobDefinition", req.JobDefinition)
	if err != nil {
		return nil, err
	}
	def, status, err := h.revision(ctx, name, rev)
	if errors.Is(err, job.ErrNotFound) || status == "INACTIVE" {
		return nil, clientErr("jobDefinition: %s is not an active job definition (aws batch describe-job-definitions lists them)", job.Truncate(req.JobDefinition, 200))
	}
	if err != nil {
		return nil, err
	}
	if err := h.mayChangeJob(ctx, name, 0); err != nil {
		return nil, err
	}
	over, env, params, err := h.overrides(req, def)
	if err != nil {
		return nil, err
	}
	// What the executor can run is judged with the submission's resources.
	if h.opts.Admission != nil {
		if err := h.opts.Admission.Admit(ctx, over.Apply(def.Spec)); err != nil {
			return nil, err
		}
	}
	// arrayProperties makes the run an array run, as Docket's own submissions' tasks do
	// (group.Expand below): the job's parallelism and max_failed hold for it. AWS's least
	// size is 2; the most is Docket's (job.MaxTasks), which is AWS's too.
	tasks := def.Tasks
	if req.ArrayProperties != nil {
		n := req.ArrayProperties.Size
		switch {
		case n < 2 || n > job.MaxTasks:
			return nil, clientErr("arrayProperties.size: %d is not from 2 to %d", n, job.MaxTasks)
		case len(def.Steps) > 0:
			return nil, clientErr("arrayProperties: job %s is a workflow; an array runs a plain job", name)
		}
		tasks = n
	}
	deps, err := h.dependencies(ctx, req.DependsOn, tasks, len(def.Steps) > 0)
	if err != nil {
		return nil, err
	}
	// The Idempotency-Key header, or a tag of that name for clients that cannot add
	// headers (boto3, the CLI): the same request again answers the same job.
	key, _ := ctx.Value(idemKey{}).(string)
	if tag, ok := req.Tags[idempotencyTag]; ok && key == "" {
		if len(tag) == 0 || len(tag) > 255 {
			return nil, clientErr("tags.%s: must be 1 to 255 characters", idempotencyTag)
		}
		key = tag
	}
	now := h.now().UTC()
	run := job.NewRun(def.Name, def.Revision, job.TriggerAPI, now)
	env["AWS_BATCH_JOB_ID"], env["AWS_BATCH_JQ_NAME"], env["AWS_BATCH_CE_NAME"] = run.ID, awsQueue(queue), h.ceName()
	run.Env, run.Overrides, run.IdempotencyKey = env, over, key
	// The submission's queue admits the run, whatever queue the job names, as in AWS Batch.
	run.Queue, run.Params = queue, params
	if p := req.SchedulingPriorityOverride; p != nil {
		if *p < 0 || *p > job.MaxPriority {
			return nil, clientErr("schedulingPriorityOverride: %d is not from 0 to %d (Docket's run priorities)", *p, job.MaxPriority)
		}
		run.Priority = *p
	}
	run.Exclusive = def.Concurrency == job.ConcurrencyForbid
	run.Reason, run.Message = job.ReasonSubmitted, fmt.Sprintf("queued on request (aws batch submit-job %s%s)", req.JobName, by(ctx))
	children, _ := group.Expand(&run, def.Spec, tasks, nil)
	if field, err := group.CheckCopies(job.Run{Env: env, Params: req.Parameters, Overrides: over}, len(children)); err != nil {
		if field == "params" {
			return nil, clientErr("parameters: %v", err)
		}
		return nil, clientErr("containerOverrides: %v", err)
	}
	if err := deps.apply(ctx, h, &run, children); err != nil {
		return nil, err
	}
	events := []job.Event{run.FirstEvent()}
	for _, c := range children {
		events = append(events, c.FirstEvent())
	}
	stored, created, err := h.opts.Store.RunCreateGroup(ctx, run, children, events)
	if err != nil {
		return nil, err
	}
	if !created {
		// A key names one request: used again for another, it is a mistake.
		same := maps.Clone(stored.Env)
		same["AWS_BATCH_JOB_ID"] = run.ID
		if !reflect.DeepEqual(stored.Overrides, over) || !maps.Equal(same, env) || stored.Queue != queue || stored.Priority != run.Priority || !maps.Equal(stored.Params, params) {
			return nil, clientErr("Idempotency-Key %q was used for job %s with another request; send a new key for a new request", job.Truncate(key, 100), stored.ID)
		}
	} else {
		h.opts.Logger.Info("run submitted", "job", def.Name, "run_id", stored.ID, "face", "aws")
		h.opts.Queued()
	}
	return map[string]any{"jobName": req.JobName, "jobId": stored.ID, "jobArn": h.jobARN(stored.ID)}, nil
}

// by names who acted, for messages.
func by(ctx context.Context) string {
	if name := token(ctx).Name; name != "" {
		return " by " + name
	}
	return ""
}

// overrides builds what the submission changes of the revision: its name, the command,
// cpu and memory, retries and the deadline; the run's env; and its params (parameters,
// see submittedParams).
func (h *Handler) overrides(req submitRequest, def job.Definition) (*job.Overrides, map[string]string, map[string]string, error) {
	over := &job.Overrides{Name: req.JobName}
	env := map[string]string{}
	var command []string
	if c := req.ContainerOverrides; c != nil {
		if c.InstanceType != "" {
			return nil, nil, nil, clientErr("containerOverrides.instanceType: is not supported by Docket's AWS Batch face")
		}
		command = c.Command
		cpu, memory, gpu, err := resources("containerOverrides", c.Vcpus, c.Memory, c.ResourceRequirements)
		if err != nil {
			return nil, nil, nil, err
		}
		over.CPU, over.Memory, over.GPU = cpu, memory, gpu
		e, err := envOf("containerOverrides.environment", c.Environment)
		if err != nil {
			return nil, nil, nil, err
		}
		for k := range e {
			if strings.HasPrefix(k, "AWS_BATCH") {
				return nil, nil, nil, clientErr("containerOverrides.environment: %s: names starting AWS_BATCH are set by the server", k)
			}
		}
		maps.Copy(env, e)
	}
	command, params, err := submittedParams(def, command, req.Parameters)
	if err != nil {
		return nil, nil, nil, err
	}
	if command != nil && !slices.Equal(command, def.Command) {
		if _, err := definition.RenderCommand(command, definition.TemplateData{Params: params}); err != nil {
			return nil, nil, nil, clientErr("containerOverrides.command: %v", err)
		}
		over.Command = command
	}
	// A job killed by its timeout is not retried, as in AWS Batch; then the submission's
	// rules, or the definition's.
	rules := def.RetryOn
	if rs := req.RetryStrategy; rs != nil {
		given, err := retryRules("retryStrategy.evaluateOnExit", rs.EvaluateOnExit)
		if err != nil {
			return nil, nil, nil, err
		}
		if given != nil {
			rules = given
		}
		if n := rs.Attempts; n != nil {
			if *n < 1 || *n > h.opts.Limits.MaxRetries+1 {
				return nil, nil, nil, clientErr("retryStrategy.attempts: %d is not from 1 to %d", *n, h.opts.Limits.MaxRetries+1)
			}
			retries := *n - 1
			over.Retries = &retries
		}
	}
	over.RetryOn = append([]job.RetryRule{{Reason: string(job.ReasonDeadlineExceeded), Action: job.RetryActionExit}}, rules...)
	if t := req.Timeout; t != nil && t.AttemptDurationSeconds != nil {
		d, err := attemptDuration(*t.AttemptDurationSeconds, h.opts.Limits.MaxDeadline)
		if err != nil {
			return nil, nil, nil, err
		}
		over.Deadline = job.Duration(d)
	}
	if err := definition.ValidateEnv("containerOverrides.environment", env); err != nil {
		return nil, nil, nil, err
	}
	return over, env, params, nil
}

// attemptDuration reads timeout.attemptDurationSeconds: from 60 (AWS Batch's minimum) to
// max, the server's --max-deadline (with none, what a time.Duration holds). The seconds
// are compared before they are multiplied, so a huge number is refused, not wrapped.
func attemptDuration(secs int, max time.Duration) (time.Duration, error) {
	if max <= 0 {
		max = math.MaxInt64
	}
	if secs < 60 || int64(secs) > int64(max/time.Second) {
		return 0, clientErr("timeout.attemptDurationSeconds: %d is not from 60 to %d", secs, int64(max/time.Second))
	}
	return time.Duration(secs) * time.Second, nil
}
