package kube

import (
	batchv1 "k8s.io/api/batch/v1"

	"docket.dev/docket/internal/job"
)

// Manifest returns the batch/v1 Job the executor would create for x (for a task of an
// array, the array's Indexed Job), without creating it: what a dry run shows, and what `kubectl apply --dry-run=server` takes.
func (e *Executor) Manifest(x job.Execution) (*batchv1.Job, error) {
	sp, err := e.spaceFor(x.Kubernetes, x.Labels)
	if err != nil {
		return nil, err
	}
	build := jobFor
	if indexed(x, e.opts.Pod.HelperImage) {
		build = func(x job.Execution, ns string, pod PodDefaults) (*batchv1.Job, error) {
			return arrayJobFor(x, ns, pod, e.opts.ArrayParallelism)
		}
	}
	j, err := build(x, sp.name, e.opts.Pod)
	if err != nil {
		return nil, err
	}
	j.APIVersion, j.Kind = "batch/v1", "Job"
	return j, nil
}
