package awsbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

type containerProperties struct {
	Image                string                `json:"image,omitempty"`
	Vcpus                *int                  `json:"vcpus,omitempty"`
	Memory               *int                  `json:"memory,omitempty"`
	Command              []string              `json:"command,omitempty"`
	Environment          []keyValue            `json:"environment,omitempty"`
	ResourceRequirements []resourceRequirement `json:"resourceRequirements,omitempty"`
	// Known members Docket does not do; a request that sets one is refused, naming it.
	Volumes                      json.RawMessage `json:"volumes,omitempty"`
	MountPoints                  json.RawMessage `json:"mountPoints,omitempty"`
	Secrets                      json.RawMessage `json:"secrets,omitempty"`
	LinuxParameters              json.RawMessage `json:"linuxParameters,omitempty"`
	FargatePlatformConfiguration json.RawMessage `json:"fargatePlatformConfiguration,omitempty"`
	RepositoryCredentials        json.RawMessage `json:"repositoryCredentials,omitempty"`
}

type retryStrategy struct {
	Attempts       *int       `json:"attempts,omitempty"`
	EvaluateOnExit []exitRule `json:"evaluateOnExit,omitempty"`
}

type jobTimeout struct {
	AttemptDurationSeconds *int `json:"attemptDurationSeconds,omitempty"`
}

type registerRequest struct {
	JobDefinitionName   string               `json:"jobDefinitionName"`
	Type                string               `json:"type"`
	Parameters          map[string]string    `json:"parameters"`
	ContainerProperties *containerProperties `json:"containerProperties"`
	RetryStrategy       *retryStrategy       `json:"retryStrategy"`
	Timeout             *jobTimeout          `json:"timeout"`
	Tags                map[string]string    `json:"tags"`
	NodeProperties      json.RawMessage      `json:"nodeProperties"`
	EksProperties       json.RawMessage      `json:"eksProperties"`
	EcsProperties       json.RawMessage      `json:"ecsProperties"`
}

// unsupported refuses the known members Docket does not do, naming the first one set.
func unsupported(members map[string]json.RawMessage) error {
	for _, name := range slices.Sorted(maps.Keys(members)) {
		if v := strings.TrimSpace(string(members[name])); v != "" && v != "null" {
			return clientErr("%s: is not supported by Docket's AWS Batch face (docs/API.md lists what is)", name)
		}
	}
	return nil
}

// registerJobDefinition applies a Docket job from an AWS definition: the job is the
// definition's name, a changed spec a new revision.
func (h *Handler) registerJobDefinition(ctx context.Context, body []byte) (any, error) {
	var req registerRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	if err := unsupported(map[string]json.RawMessage{"nodeProperties": req.NodeProperties, "eksProperties": req.EksProperties, "ecsProperties": req.EcsProperties}); err != nil {
		return nil, err
	}
	switch {
	case req.JobDefinitionName == "":
		return nil, clientErr("jobDefinitionName: is required")
	case req.Type != "container":
		return nil, clientErr("type: %q is not supported; Docket's AWS Batch face registers type container", job.Truncate(req.Type, 40))
	case req.ContainerProperties == nil:
		return nil, clientErr("containerProperties: is required for a container job definition")
	}
	c := req.ContainerProperties
	if err := unsupported(map[string]json.RawMessage{"containerProperties.volumes": c.Volumes, "containerProperties.mountPoints": c.MountPoints,
		"containerProperties.secrets": c.Secrets, "containerProperties.linuxParameters": c.LinuxParameters,
		"containerProperties.fargatePlatformConfiguration": c.FargatePlatformConfiguration, "containerProperties.repositoryCredentials": c.RepositoryCredentials}); err != nil {
		return nil, err
	}
	spec := job.Spec{Name: req.JobDefinitionName, Image: c.Image, Command: c.Command, Concurrency: job.ConcurrencyAllow}
	cpu, memory, gpu, err := resources("containerProperties", c.Vcpus, c.Memory, c.ResourceRequirements)
	if err != nil {
		return nil, err
	}
	spec.CPU, spec.Memory = cpu, memory
	if gpu != nil {
		spec.GPU = *gpu
	}
	if spec.CPU == "" || spec.Memory == "" {
		return nil, clientErr("containerProperties: give vcpus and memory (MiB), or resourceRequirements VCPU and MEMORY")
	}
	if spec.Env, err = envOf("containerProperties.environment", c.Environment); err != nil {
		return nil, err
	}
	if req.RetryStrategy != nil {
		if spec.RetryOn, err = retryRules("retryStrategy.evaluateOnExit", req.RetryStrategy.EvaluateOnExit); err != nil {
			return nil, err
		}
		if n := req.RetryStrategy.Attempts; n != nil {
			if *n < 1 || *n > 10 {
				return nil, clientErr("retryStrategy.attempts: %d is not from 1 to 10", *n)
			}
			spec.Retries = *n - 1
		}
	}
	if t := req.Timeout; t != nil && t.AttemptDurationSeconds != nil {
		d, err := attemptDuration(*t.AttemptDurationSeconds, h.opts.Limits.MaxDeadline)
		if err != nil {
			return nil, err
		}
		spec.Deadline = job.Duration(d)
	}
	if spec.Command, spec.Params, err = registeredParams(c.Command, req.Parameters); err != nil {
		return nil, err
	}
	// The tag team is the job's team label (docs: API tokens); other tags are not kept.
	if team, ok := req.Tags[auth.TeamLabel]; ok {
		spec.Labels = map[string]string{auth.TeamLabel: team}
	}
	spec, err = definition.Normalize(spec, h.opts.Limits)
	if err != nil {
		return nil, err
	}
	// A team's key may neither take another team's job nor give its own away.
	if err := h.mayChangeJob(ctx, spec.Name, 0); err != nil {
		return nil, err
	}
	if tok := token(ctx); !tok.MayChange(spec.Labels[auth.TeamLabel]) {
		return nil, &apiError{status: 403, typ: "AccessDeniedException",
			msg: fmt.Sprintf("%s may register only job definitions tagged team: %s (--tags team=NAME)", tok.Name, strings.Join(tok.Teams, ", "))}
	}
	if h.opts.Admission != nil {
		if err := h.opts.Admission.Admit(ctx, spec); err != nil {
			return nil, err
		}
	}
	def, changed, err := h.opts.Store.DefinitionPut(ctx, spec, h.now().UTC())
	if err != nil {
		return nil, err
	}
	h.opts.Logger.Info("job applied", "job", def.Name, "revision", def.Revision, "changed", changed, "face", "aws")
	return map[string]any{"jobDefinitionName": def.Name, "jobDefinitionArn": h.definitionARN(def.Name, def.Revision), "revision": def.Revision}, nil
}

// mayChangeJob refuses a token limited to some teams a job of another team: the job's
// revision, for a run made by it (revision > 0), else the job as it is now. A job that is
// not there passes: what a registration would make is checked on its own. A run's
// revision is kept when its job is deleted, so its team still decides who stops it.
func (h *Handler) mayChangeJob(ctx context.Context, name string, revision int) error {
	tok := token(ctx)
	if len(tok.Teams) == 0 {
		return nil
	}
	def, err := store.DefinitionAt(ctx, h.opts.Store, name, revision)
	switch {
	case errors.Is(err, job.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	team := def.Labels[auth.TeamLabel]
	if tok.MayChange(team) {
		return nil
	}
	return &apiError{status: 403, typ: "AccessDeniedException",
		msg: fmt.Sprintf("%s may change only jobs labelled team: %s; job %q is not one of them", tok.Name, strings.Join(tok.Teams, ", "), name)}
}

// definitionARN is arn:aws:batch:REGION:ACCOUNT:job-definition/NAME:REV.
func (h *Handler) definitionARN(name string, rev int) string {
	return fmt.Sprintf("arn:aws:batch:%s:%s:job-definition/%s:%d", h.opts.Region, h.opts.Account, name, rev)
}

// parseDefinition reads `name`, `name:rev` or a job definition ARN; rev 0 is the current.
func parseDefinition(field, s string) (string, int, error) {
	if i := strings.LastIndex(s, ":job-definition/"); strings.HasPrefix(s, "arn:") && i >= 0 {
		s = s[i+len(":job-definition/"):]
	}
	name, revText, hasRev := strings.Cut(s, ":")
	if name == "" {
		return "", 0, clientErr("%s: is required: a job definition's name, name:revision or ARN", field)
	}
	if !hasRev {
		return name, 0, nil
	}
	rev, err := strconv.Atoi(revText)
	if err != nil || rev < 1 {
		return "", 0, clientErr("%s: %q does not end in a revision number (name:revision)", field, job.Truncate(s, 200))
	}
	return name, rev, nil
}

// jobDefinition is a Docket revision as AWS describes a job definition.
func (h *Handler) jobDefinition(def job.Definition, status string) map[string]any {
	c := map[string]any{"image": def.Image, "resourceRequirements": requirementsOf(def.Spec)}
	if len(def.Command) > 0 {
		c["command"] = awsCommand(def.Command)
	}
	if env := envList(def.Env); len(env) > 0 {
		c["environment"] = env
	}
	if mib, ok := mebibytes(def.Memory); ok {
		c["memory"] = mib
	}
	out := map[string]any{
		"jobDefinitionName":    def.Name,
		"jobDefinitionArn":     h.definitionARN(def.Name, def.Revision),
		"revision":             def.Revision,
		"status":               status,
		"type":                 "container",
		"containerProperties":  c,
		"retryStrategy":        retryStrategyOf(def.Spec),
		"platformCapabilities": []string{"EC2"},
	}
	if def.Deadline > 0 {
		out["timeout"] = map[string]any{"attemptDurationSeconds": int(time.Duration(def.Deadline).Seconds())}
	}
	if p := awsParameters(def.Params); len(p) > 0 {
		out["parameters"] = p
	}
	if len(def.Labels) > 0 {
		out["tags"] = def.Labels
	}
	return out
}

type describeDefinitionsRequest struct {
	JobDefinitions    []string `json:"jobDefinitions"`
	JobDefinitionName string   `json:"jobDefinitionName"`
	Status            string   `json:"status"`
	MaxResults        *int     `json:"maxResults"`
	NextToken         string   `json:"nextToken"`
}

// describeJobDefinitions lists revisions: the ones named, or every revision of the jobs
// (of one name), newest revision first within a job, jobs by name. A revision of a job
// that exists is ACTIVE (it can be submitted); one of a deleted job INACTIVE.
func (h *Handler) describeJobDefinitions(ctx context.Context, body []byte) (any, error) {
	var req describeDefinitionsRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	limit := 100
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > 100 {
			return nil, clientErr("maxResults: %d is not from 1 to 100", *req.MaxResults)
		}
		limit = *req.MaxResults
	}
	switch req.Status {
	case "", "ACTIVE", "INACTIVE":
	default:
		return nil, clientErr("status: %q is not ACTIVE or INACTIVE", job.Truncate(req.Status, 40))
	}
	out := []map[string]any{}
	if len(req.JobDefinitions) > 0 {
		if len(req.JobDefinitions) > 100 {
			return nil, clientErr("jobDefinitions: %d given; at most 100", len(req.JobDefinitions))
		}
		for i, s := range req.JobDefinitions {
			name, rev, err := parseDefinition(fmt.Sprintf("jobDefinitions[%d]", i), s)
			if err != nil {
				return nil, err
			}
			def, status, err := h.revision(ctx, name, rev)
			if errors.Is(err, job.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if req.Status == "" || req.Status == status {
				out = append(out, h.jobDefinition(def, status))
			}
		}
		return map[string]any{"jobDefinitions": out}, nil
	}
	if req.Status == "INACTIVE" {
		return map[string]any{"jobDefinitions": out}, nil // deleted jobs are not listed
	}
	// The token is the job and revision to go on from: "name:rev".
	afterName, afterRev := "", 0
	if req.NextToken != "" {
		var err error
		afterName, afterRev, err = decodeDefinitionToken(req.NextToken)
		if err != nil {
			return nil, err
		}
	}
	var defs []job.Definition
	if req.JobDefinitionName != "" {
		def, err := h.opts.Store.DefinitionGet(ctx, req.JobDefinitionName)
		if err != nil && !errors.Is(err, job.ErrNotFound) {
			return nil, err
		}
		if err == nil {
			defs = []job.Definition{def}
		}
	} else {
		cursor := ""
		if afterName != "" {
			cursor = afterName
			// The page starts inside afterName's revisions: take it again.
			if def, err := h.opts.Store.DefinitionGet(ctx, afterName); err == nil {
				defs = append(defs, def)
			}
		}
		page, _, err := h.opts.Store.DefinitionPage(ctx, store.DefinitionFilter{Cursor: cursor, Limit: limit + 1})
		if err != nil {
			return nil, err
		}
		defs = append(defs, page...)
	}
	next := ""
	for _, def := range defs {
		rev := def.Revision
		if def.Name == afterName && afterRev > 0 {
			rev = afterRev
		}
		for ; rev >= 1; rev-- {
			if len(out) == limit {
				next = encodeDefinitionToken(def.Name, rev)
				break
			}
			r, err := h.opts.Store.DefinitionRevision(ctx, def.Name, rev)
			if err != nil {
				return nil, err
			}
			out = append(out, h.jobDefinition(r, "ACTIVE"))
		}
		if next != "" {
			break
		}
	}
	resp := map[string]any{"jobDefinitions": out}
	if next != "" {
		resp["nextToken"] = next
	}
	return resp, nil
}

// revision reads one revision (0: the current) and whether it is ACTIVE.
func (h *Handler) revision(ctx context.Context, name string, rev int) (job.Definition, string, error) {
	cur, err := h.opts.Store.DefinitionGet(ctx, name)
	status := "ACTIVE"
	switch {
	case errors.Is(err, job.ErrNotFound):
		status = "INACTIVE"
		if rev == 0 {
			return job.Definition{}, "", err
		}
	case err != nil:
		return job.Definition{}, "", err
	case rev == 0 || rev == cur.Revision:
		return cur, status, nil
	}
	def, err := h.opts.Store.DefinitionRevision(ctx, name, rev)
	return def, status, err
}

func encodeDefinitionToken(name string, rev int) string {
	return tokenPrefix + encodeCursor(fmt.Sprintf("%s:%d", name, rev))
}

func decodeDefinitionToken(t string) (string, int, error) {
	raw, ok := decodeCursor(t)
	name, revText, found := strings.Cut(raw, ":")
	rev, err := strconv.Atoi(revText)
	if !ok || !found || err != nil || rev < 1 || name == "" {
		return "", 0, clientErr("nextToken: %q is not a token this server gave", job.Truncate(t, 100))
	}
	return name, rev, nil
}

type deregisterRequest struct {
	JobDefinition string `json:"jobDefinition"`
}

// deregisterJobDefinition deletes the job when its current revision is deregistered
// (Docket keeps every revision and its runs); an older revision cannot be deregistered
// alone, since Docket's revisions are history, not separate definitions.
func (h *Handler) deregisterJobDefinition(ctx context.Context, body []byte) (any, error) {
	var req deregisterRequest
	if err := decode(body, &req); err != nil {
		return nil, err
	}
	name, rev, err := parseDefinition("jobDefinition", req.JobDefinition)
	if err != nil {
		return nil, err
	}
	cur, err := h.opts.Store.DefinitionGet(ctx, name)
	if errors.Is(err, job.ErrNotFound) {
		return nil, clientErr("jobDefinition: %q is not an active job definition", job.Truncate(req.JobDefinition, 200))
	}
	if err != nil {
		return nil, err
	}
	if rev != 0 && rev != cur.Revision {
		return nil, clientErr("jobDefinition: revision %d of %s is not its current revision (%d); Docket keeps revisions as the job's history and deregisters a job whole, by its current revision", rev, name, cur.Revision)
	}
	if err := h.mayChangeJob(ctx, name, 0); err != nil {
		return nil, err
	}
	if err := h.opts.Store.DefinitionDelete(ctx, name, h.now().UTC()); err != nil {
		return nil, err
	}
	h.opts.Logger.Info("job deleted", "job", name, "face", "aws")
	return struct{}{}, nil
}
