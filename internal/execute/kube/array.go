package kube

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute"
	"docket.dev/docket/internal/job"
)

// An array run on Kubernetes is one Indexed Job: completions are its tasks, the Job's
// parallelism its own, backoffLimitPerIndex its retries and maxFailedIndexes its
// max_failed. Every pod of the Job has the same template, so a pod learns which task and
// attempt it is from the server when it starts: its init container (Docket's own image,
// `docket task start`) asks for the completion index and the pod's attempt (the index's
// failures before it, plus one), fetches that task run's input files, and leaves the
// task's command and env, with a copy of the docket binary, in an emptyDir; the job's
// container runs `docket task exec`, which becomes the task's command. Docket's recorder
// stays the judge of retries: a pod for an attempt Docket will not run stops in its init
// container with job.TaskStopExitCode, which the podFailurePolicy turns into a failed index.
const (
	// TaskDir holds what the init container leaves for the job's container.
	TaskDir = "/docket/task"
	// Annotations and the label the Job controller puts on an Indexed Job's pods (the
	// label since Kubernetes 1.28).
	AnnotationCompletionIndex = "batch.kubernetes.io/job-completion-index"
	AnnotationIndexFailures   = "batch.kubernetes.io/job-index-failure-count"
	LabelCompletionIndex      = "batch.kubernetes.io/job-completion-index"
)

// podBackoff bounds the Job controller's wait before an index's next pod, in seconds.
const podBackoff = 6 * 60

// indexed says whether x, a task of an array, runs as an index of its array's Indexed
// Job. A task needs the helper image (its pod's init container) and a command of its own
// (the job's container runs `docket task exec`, which needs one to run); without either it
// runs as a Job of its own.
func indexed(x job.Execution, helper string) bool {
	return x.Array != nil && x.Run.TaskIndex != nil && helper != "" && len(x.Command) > 0
}

// arrayJobFor builds the Indexed Job of the array a task belongs to, from that task's
// execution: what differs between tasks (command, env, inputs) the pods fetch when they
// start. parallelism (the server's) caps the pods at once, as the array's own does: the Job
// runs no more pods than the server follows tasks, so a pod seldom runs, or waits for its
// attempt to be made, before Docket follows its task.
func arrayJobFor(x job.Execution, namespace string, defaults PodDefaults, parallelism int) (*batchv1.Job, error) {
	a := x.Array
	ours := map[string]string{LabelManagedBy: ManagedBy, LabelJob: x.Run.Job, LabelRun: a.RunID}
	pod, resources, podLabels, err := podParts(x, defaults, ours)
	if err != nil {
		return nil, err
	}
	// Each pod has the task's deadline; the Job as a whole is bounded by every task
	// running one after another, each attempt to its deadline, at the Job's parallelism,
	// with the Job controller's waits before an index's next pod (10 s, doubling, at most
	// 6 minutes) on top.
	deadline := max(int64(x.Deadline.Seconds()), 1)
	if a.Parallelism > 0 && (parallelism <= 0 || a.Parallelism < parallelism) {
		parallelism = a.Parallelism
	}
	if parallelism <= 0 || parallelism > a.Size {
		parallelism = a.Size
	}
	rounds := int64((a.Size + parallelism - 1) / parallelism)
	jobDeadline := (deadline*int64(x.Retries+1) + podBackoff*int64(x.Retries)) * rounds
	var annotations map[string]string
	if x.Run.ScheduledTime != nil {
		annotations = map[string]string{AnnotationScheduledTime: x.Run.ScheduledTime.UTC().Format(time.RFC3339)}
	}
	mode := batchv1.IndexedCompletion
	completions, par, perIndex := int32(a.Size), int32(parallelism), int32(x.Retries)
	automount := false
	stop := []int32{job.TaskStopExitCode}
	taskContainer := "task"
	spec := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: Name(a.RunID), Namespace: namespace, Labels: ours, Annotations: annotations},
		Spec: batchv1.JobSpec{
			CompletionMode:       &mode,
			Completions:          &completions,
			Parallelism:          &par,
			BackoffLimitPerIndex: &perIndex,
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{
					// A pod the cluster stopped is not the task's failure: the Job starts
					// another for the same index and attempt.
					Action:          batchv1.PodFailurePolicyActionIgnore,
					OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
				},
				{
					// Docket does not run this attempt: the index is over.
					Action: batchv1.PodFailurePolicyActionFailIndex,
					OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
						ContainerName: &taskContainer, Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: stop,
					},
				},
			}},
			ActiveDeadlineSeconds: &jobDeadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: maps.Clone(x.Annotations)},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ActiveDeadlineSeconds:        &deadline,
					NodeSelector:                 pod.NodeSelector,
					Tolerations:                  pod.Tolerations,
					ServiceAccountName:           pod.ServiceAccountName,
					PriorityClassName:            pod.PriorityClassName,
					AutomountServiceAccountToken: &automount,
					Volumes: []corev1.Volume{
						{Name: "task", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "inputs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
					InitContainers: []corev1.Container{{
						Name:    taskContainer,
						Image:   pod.HelperImage,
						Command: []string{"/docket", "task", "start", "--dir", TaskDir, "--inputs", InputsDir},
						Env: []corev1.EnvVar{
							{Name: "DOCKET_API", Value: a.Env["DOCKET_API"]},
							{Name: "DOCKET_TOKEN", Value: a.Env["DOCKET_TOKEN"]},
							{Name: "DOCKET_RUN_ID", Value: a.RunID},
							{Name: "DOCKET_TASK_FAILURES", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
								FieldPath: "metadata.annotations['" + AnnotationIndexFailures + "']"}}},
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "task", MountPath: TaskDir}, {Name: "inputs", MountPath: InputsDir}},
					}},
					Containers: []corev1.Container{{
						Name:         "job",
						Image:        x.Image,
						Command:      []string{TaskDir + "/docket", "task", "exec", "--dir", TaskDir},
						Resources:    resources,
						VolumeMounts: []corev1.VolumeMount{{Name: "task", MountPath: TaskDir, ReadOnly: true}, {Name: "inputs", MountPath: InputsDir}},
					}},
				},
			},
		},
	}
	if a.MaxFailed != nil && *a.MaxFailed < a.Size {
		n := int32(*a.MaxFailed)
		spec.Spec.MaxFailedIndexes = &n
	}
	return spec, nil
}

// taskPods picks an array task's pods out of its array's: those of its completion index
// whose index had failures failures before them (the pods of its attempt).
type taskPods struct {
	array    string
	index    int
	failures int
}

func newTaskPods(x job.Execution) *taskPods {
	return &taskPods{array: x.Array.RunID, index: *x.Run.TaskIndex, failures: x.Run.Attempt - 1}
}

// mine says whether a pod of the task's index is one of its attempt's.
func (t *taskPods) mine(p *corev1.Pod) bool {
	n, err := strconv.Atoi(p.Annotations[AnnotationIndexFailures])
	if err != nil {
		n = 0
	}
	return n == t.failures && p.Annotations[AnnotationCompletionIndex] == strconv.Itoa(t.index)
}

// key is how the pod index and the executor's wakers know the task: its array's id and its
// index (taskKey of its pods).
func (t *taskPods) key() string { return t.array + "/" + strconv.Itoa(t.index) }

// createArrayJob creates the Job of a task's array, unless the array's first task to start
// did: a Job of that name for the same array counts as created. The tasks of an array
// start side by side; one of them creates the Job and the others wait for it, so an array
// costs the API server one create, not one per task.
func (e *Executor) createArrayJob(ctx context.Context, sp *space, spec *batchv1.Job) error {
	if have, err := sp.jobs.Get(spec.Name); err == nil && have.Labels[LabelRun] == spec.Labels[LabelRun] && have.Labels[LabelManagedBy] == ManagedBy {
		return nil
	}
	key := spec.Namespace + "/" + spec.Name
	e.mu.Lock()
	c, waiting := e.creating[key]
	if !waiting {
		c = &creation{done: make(chan struct{})}
		e.creating[key] = c
	}
	e.mu.Unlock()
	if waiting {
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.err = e.create(ctx, spec)
	close(c.done)
	e.mu.Lock()
	delete(e.creating, key) // the informer knows the Job by the next start, or it is created again
	e.mu.Unlock()
	return c.err
}

// creation is an array's Job being created, which its other tasks wait for.
type creation struct {
	done chan struct{}
	err  error
}

// deletePods deletes a task attempt's pods, leaving the array's Job and its other tasks
// alone. The Job controller counts a deleted pod as a failure of its index; the next pod of
// the index asks the server and stops, since the attempt is over.
func (f *follower) deletePods(ctx context.Context) {
	grace := int64(0)
	for _, p := range f.sp.byIndex(indexTask, f.task.key()) {
		if !f.task.mine(p) {
			continue
		}
		err := f.e.opts.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if err != nil && !apierrors.IsNotFound(err) {
			f.e.opts.Logger.Warn("delete pod", "namespace", p.Namespace, "pod", p.Name, "err", err)
		}
	}
}

// taskEnded maps a task's pod that has ended, or its array's Job that has, to the task's
// final update.
func (f *follower) taskEnded(ctx context.Context, j *batchv1.Job, pod *corev1.Pod) (job.Update, bool) {
	id := f.x.Run.ID
	if pod != nil && pod.Status.Reason == "DeadlineExceeded" {
		f.settleLogs(ctx, pod)
		why := execute.Deadline(f.x.Deadline)
		return job.Update{RunID: id, State: why.State, Reason: why.Reason, Message: why.Message}, true
	}
	if podEnded(pod) {
		f.settleLogs(ctx, pod)
		if pod.Status.Phase == corev1.PodSucceeded {
			return execute.Exited(id, 0, false, f.x.Memory), true
		}
		return f.ended(terminated(pod)), true
	}
	if name, t := initFailed(pod); t != nil {
		msg := fmt.Sprintf("pod %s did not start the task: its init container %s (docket task start) exited with code %d", pod.Name, name, t.ExitCode)
		if t.Message != "" {
			msg += ": " + t.Message
		}
		return job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonStartFailed, Message: msg}, true
	}
	if pod != nil && pod.DeletionTimestamp == nil && disruption(pod) == nil {
		return job.Update{}, false // the pod goes on, whatever its Job says
	}
	return f.taskFinished(j)
}

// initFailed returns the name and end of a pod's init container that failed, when one did:
// the pod's job container never ran.
func initFailed(pod *corev1.Pod) (string, *corev1.ContainerStateTerminated) {
	if pod == nil || pod.Status.Phase != corev1.PodFailed {
		return "", nil
	}
	for _, c := range pod.Status.InitContainerStatuses {
		if t := c.State.Terminated; t != nil && t.ExitCode != 0 {
			return c.Name, t
		}
	}
	return "", nil
}

// stopWork stops what works for the run: its Job; for a task, its attempt's pods, and the
// array's Job only once the array is over (its other tasks go on).
func (f *follower) stopWork(ctx context.Context) {
	if f.task == nil {
		f.e.delete(ctx, f.sp.name, f.name)
		return
	}
	f.deletePods(ctx)
	if f.e.opts.Abandoned != nil && f.e.opts.Abandoned(ctx, f.task.array) {
		f.e.delete(ctx, f.sp.name, f.name)
	}
}

// taskFinished maps the end of an array's Job to a task whose pod has not ended: the Job
// failed (past maxFailedIndexes, or its deadline) and stopped the task's pod, or completed.
func (f *follower) taskFinished(j *batchv1.Job) (job.Update, bool) {
	id := f.x.Run.ID
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobFailed:
			return job.Update{RunID: id, State: job.StateFailed, Reason: job.Reason(c.Reason),
				Message: fmt.Sprintf("the array's Job %s failed: %s", j.Name, c.Message)}, true
		case batchv1.JobComplete:
			// Every index succeeded, this one's attempt among them or one after it.
			return job.Update{RunID: id, State: job.StateFailed, Reason: "JobComplete",
				Message: fmt.Sprintf("the array's Job %s completed without a pod for attempt %d of task %d", j.Name, f.x.Run.Attempt, f.task.index)}, true
		}
	}
	return job.Update{}, false
}
