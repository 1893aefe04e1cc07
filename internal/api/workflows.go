package api

// Workflows over HTTP: the result a step reads of another, resuming an ended workflow (or
// array) run, and the apply-time checks of steps and triggers that need the store or the
// executor.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// getStepResult returns the result a step of the asking run's workflow reported: what
// `docket report --get-result STEP` prints inside a later step. The run's own token, or
// a viewer's, may read it.
func (a *API) getStepResult(w http.ResponseWriter, r *http.Request) {
	id, step := r.PathValue("id"), r.PathValue("step")
	if len(step) > validation.DNS1123LabelMaxLength || len(validation.IsDNS1123Label(step)) > 0 {
		writeError(w, r, a.opts.Logger, invalid("step", "is not a step name: lowercase letters, digits and '-', at most 63"))
		return
	}
	run, err := a.opts.Store.RunGet(r.Context(), id)
	if err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	parent := run.Parent
	if run.Kind == job.KindWorkflow {
		parent = run.ID // a workflow run reads its own steps' results
	}
	if parent == "" || run.Step == "" && run.Kind != job.KindWorkflow {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusNotFound, code: "not_a_step",
			msg: fmt.Sprintf("run %s is no step of a workflow, so it has no steps' results to read", id)})
		return
	}
	if run.Step != "" {
		// A step reads what the steps it needs reported, as its templates may: what any
		// other step reported depends on when the read comes.
		def, err := store.DefinitionAt(r.Context(), a.opts.Store, run.Job, run.Revision)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		var names []string
		for _, st := range def.Steps {
			names = append(names, st.Name)
		}
		switch {
		case !slices.Contains(names, step):
			writeError(w, r, a.opts.Logger, &statusError{status: http.StatusNotFound, code: "not_a_step",
				msg: fmt.Sprintf("workflow run %s has no step %q; its steps are %s", parent, step, stepNames(names))})
			return
		case step == run.Step || definition.NeedsStep(def.Steps, step, run.Step):
			writeError(w, r, a.opts.Logger, invalid("step", fmt.Sprintf("step %s runs after step %s, or is it, so its result comes after this one's", step, run.Step)))
			return
		case !definition.NeedsStep(def.Steps, run.Step, step):
			writeError(w, r, a.opts.Logger, invalid("step", fmt.Sprintf("step %s does not need step %s, directly or through others, so its result may not be there yet; add it to needs", run.Step, step)))
			return
		}
	}
	results, err := a.opts.Store.ReportStepResults(r.Context(), parent)
	if err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	res, ok := results[step]
	if !ok {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusNotFound, code: "no_result",
			msg: fmt.Sprintf("step %s of workflow run %s has no result: it has not succeeded, reported none, or is no step of it", step, parent)})
		return
	}
	writeJSON(w, r, http.StatusOK, stepResultView{RunID: parent, Step: step, Result: res})
}

// retryRequest is the optional body of POST /api/v1/runs/{id}/retry.
type retryRequest struct {
	From string `json:"from,omitempty"`
}

// retryShape describes a retry request for decodeBody's errors.
var retryShape = bodyShape{name: "a retry request", fields: "from", want: map[string]string{"from": "a step name"}}

// retryRun resumes an ended workflow or array run as a new group run (docket retry):
// what succeeded is carried over, the rest runs again; with from, that step and what
// follows it run again whatever they did.
func (a *API) retryRun(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req retryRequest
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeBody(body, &req, retryShape); err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
	}
	if req.From != "" && (len(req.From) > validation.DNS1123LabelMaxLength || len(validation.IsDNS1123Label(req.From)) > 0) {
		writeError(w, r, a.opts.Logger, invalid("from", "is not a step name: lowercase letters, digits and '-', at most 63"))
		return
	}
	if err := a.mayRunAgain(r.Context(), id); err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	now := a.now().UTC()
	run, err := a.opts.Store.RunResume(r.Context(), id, func(old job.Run, children []job.Run) (job.Run, []job.Run, []job.Event, error) {
		var again map[string]bool
		if req.From != "" {
			if old.Kind != job.KindWorkflow {
				return job.Run{}, nil, nil, invalid("from", fmt.Sprintf("run %s is an array run, which has no steps; leave from out", id))
			}
			steps := group.Latest(children)
			if _, ok := steps[req.From]; !ok {
				return job.Run{}, nil, nil, invalid("from", fmt.Sprintf("run %s has no step %q; its steps are %s", id, req.From, stepNames(slices.Sorted(maps.Keys(steps)))))
			}
			again = group.Downstream(children, req.From)
		}
		parent, runs, events := group.Resume(old, children, again, now)
		switch {
		case parent.Group.Succeeded < parent.Group.Size:
		case old.Kind == job.KindArray:
			return job.Run{}, nil, nil, &statusError{status: http.StatusConflict, code: "conflict",
				msg: fmt.Sprintf("every task of array run %s succeeded, so there is nothing to run again; start a new run of job %s instead", id, old.Job)}
		default:
			return job.Run{}, nil, nil, &statusError{status: http.StatusConflict, code: "conflict",
				msg: fmt.Sprintf("every step of run %s succeeded, so there is nothing to run again; give from, a step to run again with all that follows it (docket retry %s --from STEP)", id, id)}
		}
		return parent, runs, events, nil
	})
	if err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	a.opts.Logger.Info("run resumed", "run_id", run.ID, "resumed_from", id, "job", run.Job)
	a.opts.Queued()
	writeJSON(w, r, http.StatusCreated, run)
}

// stepNames lists a workflow's steps in an error: the first 20, and how many more.
func stepNames(names []string) string {
	if len(names) > 20 {
		names = append(names[:20:20], fmt.Sprintf("and %d more", len(names)-20))
	}
	return strings.Join(names, ", ")
}

// nounOf names a group's children: steps or tasks.
func nounOf(kind job.Kind) string {
	if kind == job.KindArray {
		return "tasks"
	}
	return "steps"
}

// checkTriggers checks a definition's after against the stored jobs: each exists, and
// no cycle of triggers goes through it. It reads the jobs upstream of spec, one by one
// (a cycle through spec is among them), not every job: the cost of an apply does not grow
// with the jobs stored. Only when a job it names is missing are all names read, for the
// nearest one to suggest.
func (a *API) checkTriggers(ctx context.Context, spec job.Spec, assumed []string) error {
	if len(spec.After) == 0 {
		return nil
	}
	// The jobs it runs after already, which a token of teams keeps whosever they are.
	var kept []string
	if teamScoped(ctx) {
		switch stored, err := a.opts.Store.DefinitionGet(ctx, spec.Name); {
		case err == nil:
			kept = afterJobs(stored.Spec)
		case !errors.Is(err, job.ErrNotFound):
			return err
		}
	}
	upstream := map[string]job.Spec{}
	next := afterJobs(spec)
	for len(next) > 0 {
		name := next[0]
		next = next[1:]
		if _, seen := upstream[name]; seen || name == spec.Name {
			continue
		}
		if slices.Contains(assumed, name) {
			// A dry run's: applied before it from the same file, whose version decides (the
			// CLI refuses a cycle among the file's own jobs), not the one stored now.
			upstream[name] = job.Spec{Name: name}
			continue
		}
		d, err := a.opts.Store.DefinitionGet(ctx, name)
		if errors.Is(err, job.ErrNotFound) {
			if slices.ContainsFunc(spec.After, func(x job.After) bool { return x.Job == name }) {
				return a.checkTriggersAll(ctx, spec)
			}
			continue // a job further up runs after one deleted since: no trigger goes on from it
		}
		if err != nil {
			return err
		}
		if i := slices.IndexFunc(spec.After, func(x job.After) bool { return x.Job == name }); i >= 0 && teamScoped(ctx) && !slices.Contains(kept, name) {
			// A job that runs after another keeps that one from being deleted: a team's
			// token may not do that to another team's job.
			if err := mayChange(ctx, name, d.Labels); err != nil {
				return &statusError{status: http.StatusForbidden, code: "forbidden", field: fmt.Sprintf("after[%d].job", i),
					msg: fmt.Sprintf("after[%d].job: a token of teams may make a job run after its teams' jobs only (a job run after cannot be deleted); %s", i, err)}
			}
		}
		upstream[name] = d.Spec
		next = append(next, afterJobs(d.Spec)...)
	}
	return definition.CheckTriggers(spec, upstream)
}

// checkTriggersAll is checkTriggers against every stored job, whose names it suggests from.
func (a *API) checkTriggersAll(ctx context.Context, spec job.Spec) error {
	defs, err := a.opts.Store.DefinitionList(ctx)
	if err != nil {
		return err
	}
	byName := make(map[string]job.Spec, len(defs))
	for _, d := range defs {
		byName[d.Name] = d.Spec
	}
	return definition.CheckTriggers(spec, byName)
}

// afterJobs names the jobs a spec runs after.
func afterJobs(spec job.Spec) []string {
	names := make([]string, len(spec.After))
	for i, x := range spec.After {
		names[i] = x.Job
	}
	return names
}

// checkSteps holds each step of a workflow that sets its own resources, placement or
// image to what the job's own fields are held to at apply: its requests fit a node, its
// image exists. Errors name the step's field (steps[1].cpu); warnings say which step.
func (a *API) checkSteps(ctx context.Context, spec job.Spec) ([]string, error) {
	var warnings []string
	for i, st := range spec.Steps {
		prefix := fmt.Sprintf("steps[%d].", i)
		if st.CPU != "" || st.Memory != "" || st.Kubernetes != nil {
			if err := a.admit(ctx, spec.ForStep(st.Name)); err != nil {
				return nil, stepField(prefix, err)
			}
		}
		if a.opts.Images != nil && st.Image != "" && st.Image != spec.Image {
			warning, err := a.opts.Images.Check(ctx, st.Image)
			if err != nil {
				return nil, stepField(prefix, err)
			}
			if warning != "" {
				warnings = append(warnings, "step "+st.Name+": "+warning)
			}
		}
	}
	return warnings, nil
}

// stepField names a step's field in an error about the spec a step's runs get.
func stepField(prefix string, err error) error {
	var fe *job.FieldError
	if errors.As(err, &fe) && fe.Field != "" {
		return job.Invalid(prefix+fe.Field, "%s", fe.Message)
	}
	var se *statusError
	if errors.As(err, &se) && se.field != "" {
		out := *se
		out.field = prefix + se.field
		return &out
	}
	return err
}
