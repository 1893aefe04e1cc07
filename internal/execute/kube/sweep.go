package kube

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Sweep deletes Docket's finished Jobs that finished more than the retention ago, unless
// they carry docket.dev/keep=true. It returns how many it deleted.
func (e *Executor) Sweep(ctx context.Context) (int, error) {
	all, err := e.allJobs()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range all {
		finished, at := jobFinished(j)
		if !finished || e.now().Sub(at) < e.opts.Retention || j.Annotations[AnnotationKeep] == "true" || e.busy(j.Labels[LabelRun]) {
			continue
		}
		e.delete(ctx, j.Namespace, j.Name)
		n++
	}
	return n, nil
}

// allJobs lists Docket's Jobs in every namespace the executor watches.
func (e *Executor) allJobs() ([]*batchv1.Job, error) {
	var all []*batchv1.Job
	for _, sp := range e.spaces {
		jobs, err := sp.jobs.List(labels.Everything())
		if err != nil {
			return nil, err
		}
		all = append(all, jobs...)
	}
	return all, nil
}

// Reap deletes the Jobs whose work goes on for a run nobody follows: the run is not one
// this executor holds and Options.Abandoned says it is over or not in the store (failed as
// interrupted, or cancelled, while no server followed it), and the Job still works: it is
// not finished and its newest pod has not ended (or is yet to be made). A Job whose pod
// has ended is the retention's (Sweep), however long the Job controller takes to mark it
// finished: its run ended with the pod. It returns how many it deleted.
func (e *Executor) Reap(ctx context.Context) (int, error) {
	if e.opts.Abandoned == nil {
		return 0, nil
	}
	all, err := e.allJobs()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range all {
		id := j.Labels[LabelRun]
		if e.busy(id) || !e.spaces[j.Namespace].working(j) || !e.opts.Abandoned(ctx, id) {
			continue
		}
		e.opts.Logger.Warn("deleting a Job nobody follows", "namespace", j.Namespace, "job", j.Name, "run_id", id)
		e.delete(ctx, j.Namespace, j.Name)
		n++
	}
	return n, nil
}

// working says whether a Job still holds its run's work: it is not finished and its run's
// newest pod has not ended, or the Job controller has not made one yet.
func (sp *space) working(j *batchv1.Job) bool {
	if finished, _ := jobFinished(j); finished {
		return false
	}
	if j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion {
		return true // an array's: its pods come and go until the Job ends
	}
	return !podEnded(sp.newestPod(j.Labels[LabelRun]))
}

// busy says whether the executor holds the run a Job is for, or a task of it (an array's
// Indexed Job).
func (e *Executor) busy(runID string) bool {
	e.mu.Lock()
	tasks := e.arrays[runID]
	e.mu.Unlock()
	return tasks > 0 || e.runs.Holds(runID)
}

// jobFinished reports whether a Job has ended, and when.
func jobFinished(j *batchv1.Job) (bool, time.Time) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}
