package api

import (
	"fmt"
	"strings"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// maxSubmitBody caps a run submission: an array of job.MaxTasks inputs of a few hundred
// bytes each fits, and no submission is held beyond it.
const maxSubmitBody = 8 << 20

// checkArray refuses an array out of bounds, naming the field: the task count, a task's input
// (too long, or holding what no variable can), or limits out of range.
func (a submitRequest) checkArray() error {
	if a.Tasks < 0 {
		return invalid("tasks", fmt.Sprintf("%d is out of range; an array has 1 to %d tasks", a.Tasks, job.MaxTasks))
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
	tasks := max(a.Tasks, len(a.Inputs))
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
	if a.Tasks > 0 || len(a.Inputs) > 0 {
		tasks = a.Tasks
	}
	return spec, tasks
}
