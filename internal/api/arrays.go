package api

import (
	"context"
	"fmt"
	"strings"
	"time"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// maxSubmitBody caps a run submission: an array of job.MaxTasks inputs of a few hundred
// bytes each fits, and no submission is held beyond it.
const maxSubmitBody = 8 << 20

// maxRunFiles bounds the files sent to one run: each is looked up, stored and placed.
const maxRunFiles = 10000

// checkArray refuses an array out of bounds, naming the field: the task count, a task's input
// (too long, or holding what no variable can), or limits out of range.
func (a submitRequest) checkArray() error {
	if a.Tasks < 0 {
		return invalid("tasks", fmt.Sprintf("%d is out of range; an array has 1 to %d tasks", a.Tasks, job.MaxTasks))
	}
	if len(a.TaskFiles) > 0 && (a.Tasks > 0 || len(a.Inputs) > 0) {
		return invalid("task_files", "make one task per file; give them without tasks or inputs")
	}
	if len(a.Files) > maxRunFiles {
		return invalid("files", fmt.Sprintf("holds %d files; a run may be sent at most %d (pack many small files into an archive)", len(a.Files), maxRunFiles))
	}
	if len(a.TaskFiles) > job.MaxTasks {
		return invalid("task_files", fmt.Sprintf("holds %d files; an array has at most %d tasks", len(a.TaskFiles), job.MaxTasks))
	}
	if len(a.Inputs) > job.MaxTasks {
		return invalid("inputs", fmt.Sprintf("holds %d inputs; an array has at most %d tasks", len(a.Inputs), job.MaxTasks))
	}
	if a.Tasks > 0 && len(a.Inputs) > 0 && a.Tasks != len(a.Inputs) {
		return invalid("tasks", fmt.Sprintf("is %d, but inputs holds %d: give one of them, or the same count", a.Tasks, len(a.Inputs)))
	}
	for i, in := range a.Inputs {
		field := fmt.Sprintf("inputs[%d]", i)
		switch {
		case len(in) > job.MaxInputBytes:
			return invalid(field, fmt.Sprintf("is %d bytes; a task's input may be at most %d (pass large data as a file)", len(in), job.MaxInputBytes))
		case strings.ContainsRune(in, 0):
			return invalid(field, "contains a NUL byte, which no program can be given")
		}
	}
	tasks := max(a.Tasks, len(a.Inputs), len(a.TaskFiles))
	return definition.CheckArray("", tasks, a.Parallelism, a.MaxFailed)
}

// applyArray returns the spec a run of the request makes, with the request's limits over the
// definition's, and how many tasks it has (0: as the definition says).
func (a submitRequest) applyArray(spec job.Spec) (job.Spec, int) {
	if a.Parallelism > 0 {
		spec.Parallelism = a.Parallelism
	}
	if a.MaxFailed != nil {
		spec.MaxFailed = a.MaxFailed
	}
	tasks := spec.Tasks
	if a.Tasks > 0 || len(a.Inputs) > 0 || len(a.TaskFiles) > 0 {
		tasks = max(a.Tasks, len(a.TaskFiles))
	}
	return spec, tasks
}

// taskInputs are the inputs of the tasks: the lines given, or each task's file's path.
func (a submitRequest) taskInputs() []string {
	if len(a.TaskFiles) == 0 {
		return a.Inputs
	}
	out := make([]string, len(a.TaskFiles))
	for i, f := range a.TaskFiles {
		out[i] = f.Path
	}
	return out
}

// putInputs records the submission's files: the shared ones on the run (the array run
// of tasks), each task file on its task.
func (a *API) putInputs(ctx context.Context, run job.Run, children []job.Run, req submitRequest, now time.Time) error {
	files := map[string][]job.File{}
	if len(req.Files) > 0 {
		files[run.ID] = req.Files
	}
	for i, f := range req.TaskFiles {
		files[children[i].ID] = []job.File{f}
	}
	if len(files) == 0 {
		return nil
	}
	return a.opts.Store.RunFilesPut(ctx, store.FileInput, files, now)
}

// sameGroup reports whether a stored run and the one a repeated request would make are
// alike as groups: both plain runs, or groups of the same kind and size.
func sameGroup(stored, made job.Run) bool {
	if (stored.Group == nil) != (made.Group == nil) {
		return false
	}
	return stored.Group == nil || stored.Kind == made.Kind && stored.Group.Size == made.Group.Size
}
