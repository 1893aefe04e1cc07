package api

import (
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/util/validation"

	"docket.dev/docket/internal/job"
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
	writeJSON(w, r, http.StatusOK, map[string]any{"run_id": parent, "step": step, "result": res})
}
