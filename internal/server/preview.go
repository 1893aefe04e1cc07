package server

import (
	"context"
	"maps"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"docket.dev/docket/internal/api"
	"docket.dev/docket/internal/dispatch"
	"docket.dev/docket/internal/execute/container"
	"docket.dev/docket/internal/execute/kube"
	"docket.dev/docket/internal/job"
)

// manifester is an executor that can show the object it would create for a run (the
// Kubernetes executor's Job).
type manifester interface {
	Manifest(x job.Execution) (*batchv1.Job, error)
}

// previewer shows what a run would run, as the dispatcher would resolve it and the
// executor would start it, without doing either.
type previewer struct {
	exec            executor
	defaultDeadline time.Duration
	runEnv          func(runID string) map[string]string
	// inputsDir is where the executor places a run's input files ($DOCKET_INPUTS).
	inputsDir string
}

// inputsDirs are the executors' folders of input files, as a preview shows them.
var inputsDirs = map[string]string{"process": "(the run's working directory)", "container": container.InputsDir, "kubernetes": kube.InputsDir}

var _ api.Previewer = previewer{}

// tokenShown stands for the run token in a preview: a run that is not stored gets none.
const tokenShown = "(issued when the run starts)"

// shownEnv is the env a run gets from the server, its token left out.
func (p previewer) shownEnv(runID string) map[string]string {
	env := p.runEnv(runID)
	if _, ok := env["DOCKET_TOKEN"]; ok {
		env["DOCKET_TOKEN"] = tokenShown
	}
	return env
}

func (p previewer) Preview(_ context.Context, def job.Definition, run job.Run, group *job.Run, inputs []job.File) (api.Preview, error) {
	x, err := dispatch.Resolve(def, run, nil, p.defaultDeadline)
	if err != nil {
		return api.Preview{}, err
	}
	x.Inputs = inputs
	if run.TaskIndex != nil && group != nil {
		dispatch.SetArray(&x, *group, p.shownEnv(group.ID))
	}
	maps.Copy(x.Env, p.shownEnv(run.ID))
	out := api.Preview{Image: x.Image, Command: x.Command, Env: maps.Clone(x.Env), CPU: x.CPU, Memory: x.Memory, Deadline: job.Duration(x.Deadline)}
	if len(inputs) > 0 {
		out.Env["DOCKET_INPUTS"] = p.inputsDir // set by the executor as the run starts
	}
	if m, ok := p.exec.(manifester); ok {
		j, err := m.Manifest(x) // with the init container that fetches the inputs
		if err != nil {
			return api.Preview{}, err
		}
		out.Manifest = j
	}
	return out, nil
}
