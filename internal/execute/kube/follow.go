package kube

import (
	"context"
	"fmt"
	"io"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute"
	"docket.dev/docket/internal/job"
)

// appearWithin is how long a created Job may take to show in the informer's cache before
// the run takes it for deleted.
const appearWithin = 30 * time.Second

// follower turns what the informers show of one run's Job and pod into the run's states.
type follower struct {
	e       *Executor
	sp      *space // the namespace of the Job
	x       job.Execution
	name    string // the Job's
	created time.Time
	task    *taskPods // for a task of an array's Indexed Job: its pods; nil for a Job of its own

	seen          bool      // the Job has shown in the cache
	scheduled     string    // the pod that was reported scheduled
	running       bool      // the run was reported running
	runningPod    string    // the pod last seen running
	disrupted     string    // the pod last reported disrupted
	skip          int64     // bytes of output already kept (an adopted run), not to keep twice
	header        string    // a line to keep before the next pod's output (an adopted run)
	pullSince     time.Time // since when the pod waits for its image
	unschedSince  time.Time // since when the pod is unschedulable
	noticedUnsch  bool
	noticedPullOn bool

	// The live log stream, started when the pod runs: done closes when it ends, and
	// streamed says whether it was opened (else the log is read once at the end).
	logDone   chan struct{}
	logCancel context.CancelFunc
	streamed  bool
}

// look reads the Job and its newest pod from the caches and reports what changed. It
// returns the run's final update and true once the run is over.
func (f *follower) look(ctx context.Context) (job.Update, bool) {
	id := f.x.Run.ID
	j, err := f.sp.jobs.Get(f.name)
	switch {
	case apierrors.IsNotFound(err):
		if f.seen || f.e.now().Sub(f.created) > appearWithin {
			return job.Update{RunID: id, State: job.StateFailed, Reason: "JobDeleted",
				Message: fmt.Sprintf("Job %s in namespace %s was deleted outside Docket", f.name, f.sp.name)}, true
		}
		return job.Update{}, false
	case err != nil:
		return job.Update{}, false
	}
	f.seen = true
	pod := f.newestPod()
	if f.task != nil {
		if u, done := f.taskEnded(ctx, j, pod); done {
			return u, true
		}
	} else if u, done := f.finished(ctx, j, pod); done {
		return u, true
	}
	if pod == nil {
		return job.Update{}, false
	}
	return f.progress(ctx, pod)
}

// newestPod returns the run's most recently created pod, if any: for a task, of its
// attempt.
func (f *follower) newestPod() *corev1.Pod {
	if f.task == nil {
		return f.sp.newestPod(f.x.Run.ID)
	}
	return newest(f.sp.byIndex(indexTask, f.task.key()), f.task.mine)
}

// newestPod returns a run's most recently created pod, if any.
func (sp *space) newestPod(runID string) *corev1.Pod {
	return newest(sp.byIndex(indexRun, runID), nil)
}

// newest returns the most recently created of the pods keep keeps (nil keeps all).
func newest(pods []*corev1.Pod, keep func(*corev1.Pod) bool) *corev1.Pod {
	var n *corev1.Pod
	for _, p := range pods {
		if keep != nil && !keep(p) {
			continue
		}
		if n == nil || p.CreationTimestamp.After(n.CreationTimestamp.Time) {
			n = p
		}
	}
	return n
}

// finished maps a Job, or its pod, that has ended to the run's final update.
func (f *follower) finished(ctx context.Context, j *batchv1.Job, pod *corev1.Pod) (job.Update, bool) {
	id := f.x.Run.ID
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		if c.Type != batchv1.JobComplete && c.Type != batchv1.JobFailed {
			continue
		}
		pod = f.endedPod(ctx, pod)
		switch c.Type {
		case batchv1.JobComplete:
			f.settleLogs(ctx, pod)
			return execute.Exited(id, 0, false, f.x.Memory), true
		case batchv1.JobFailed:
			f.settleLogs(ctx, pod)
			if c.Reason == batchv1.JobReasonDeadlineExceeded {
				why := execute.Deadline(f.x.Deadline)
				return job.Update{RunID: id, State: why.State, Reason: why.Reason, Message: why.Message}, true
			}
			if t := terminated(pod); t != nil {
				return f.ended(t), true
			}
			return job.Update{RunID: id, State: job.StateFailed, Reason: job.Reason(c.Reason),
				Message: fmt.Sprintf("the Job failed: %s", c.Message)}, true
		}
	}
	// With backoffLimit 0 the pod's end is the run's: the Job controller marks the Job a
	// second or more later (it batches pod updates; a busy one takes minutes).
	if podEnded(pod) {
		f.settleLogs(ctx, pod)
		if pod.Status.Phase == corev1.PodSucceeded {
			return execute.Exited(id, 0, false, f.x.Memory), true
		}
		return f.ended(terminated(pod)), true
	}
	return job.Update{}, false
}

// podEnded says whether a run's pod has ended of itself, which ends the run: its container
// terminated and the pod Succeeded or Failed, neither being deleted (the deadline, a
// cancel: left to the Job's condition) nor stopped by the cluster (the Job starts another).
func podEnded(pod *corev1.Pod) bool {
	return terminated(pod) != nil && pod.DeletionTimestamp == nil && disruption(pod) == nil &&
		(pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed)
}

// ended maps the end of the run's container to the run's final update. A container the
// runtime could not start (StartError under containerd, ContainerCannotRun under Docker)
// never ran: a program the image lacks is CommandNotFound (127), as on the other executors.
func (f *follower) ended(t *corev1.ContainerStateTerminated) job.Update {
	if neverStarted(t) {
		return execute.CouldNotStart(f.x, t.Message)
	}
	return execute.Exited(f.x.Run.ID, int(t.ExitCode), t.Reason == string(job.ReasonOOMKilled), f.x.Memory)
}

// neverStarted says whether a terminated container was one the runtime could not start.
func neverStarted(t *corev1.ContainerStateTerminated) bool {
	return t.Reason == "StartError" || t.Reason == "ContainerCannotRun"
}

// endedPod returns the run's pod as it ended. The Job's end can reach the cache before the
// pod's last status does, so without a terminated pod in the cache the API server is asked.
func (f *follower) endedPod(ctx context.Context, cached *corev1.Pod) *corev1.Pod {
	if terminated(cached) != nil {
		return cached
	}
	pods, err := f.e.opts.Client.CoreV1().Pods(f.sp.name).List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + f.x.Run.ID})
	if err != nil {
		return cached
	}
	listed := make([]*corev1.Pod, len(pods.Items))
	for i := range pods.Items {
		listed[i] = &pods.Items[i]
	}
	if n := newest(listed, nil); n != nil {
		return n
	}
	return cached
}

// terminated is the terminated state of a pod's container, if it has ended.
func terminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	if pod == nil || len(pod.Status.ContainerStatuses) == 0 {
		return nil
	}
	return pod.Status.ContainerStatuses[0].State.Terminated
}

// progress reports a pod's way to running, and fails the run when the pod cannot get
// there: an image that cannot be pulled past the grace, an invalid image name at once, a
// pod no node can take past the pending budget.
func (f *follower) progress(ctx context.Context, pod *corev1.Pod) (job.Update, bool) {
	id, now := f.x.Run.ID, f.e.now()
	if c := disruption(pod); c != nil {
		// The Job ignores the pod's failure (its podFailurePolicy) and starts another.
		if f.disrupted != pod.Name {
			f.disrupted = pod.Name
			f.e.rec.Notice(ctx, id, "Disrupted", fmt.Sprintf("pod %s on node %s was stopped by the cluster (%s: %s); the Job starts another pod in its place",
				pod.Name, pod.Spec.NodeName, c.Reason, c.Message))
		}
		return job.Update{}, false
	}
	if pod.Spec.NodeName != "" && f.scheduled != pod.Name {
		f.scheduled = pod.Name
		f.e.rec.Notice(ctx, id, "Scheduled", fmt.Sprintf("pod %s scheduled on node %s", pod.Name, pod.Spec.NodeName))
	}
	if c := unschedulable(pod); c != nil {
		if f.unschedSince.IsZero() {
			f.unschedSince = now
		}
		if !f.noticedUnsch {
			f.noticedUnsch = true
			f.e.rec.Notice(ctx, id, "Unschedulable", fmt.Sprintf("pod %s cannot be scheduled yet: %s", pod.Name, c.Message))
		}
		if now.Sub(f.unschedSince) >= f.e.opts.PendingBudget {
			f.stopWork(ctx)
			return job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonUnschedulable,
				Message: fmt.Sprintf("no node could take the pod for %s: %s", job.Duration(f.e.opts.PendingBudget), c.Message)}, true
		}
		return job.Update{}, false
	}
	f.unschedSince = time.Time{}
	if len(pod.Status.ContainerStatuses) == 0 {
		return job.Update{}, false
	}
	st := pod.Status.ContainerStatuses[0]
	if w := st.State.Waiting; w != nil {
		switch w.Reason {
		case "InvalidImageName":
			f.stopWork(ctx)
			return job.Update{RunID: id, State: job.StateFailed, Reason: "InvalidImageName",
				Message: fmt.Sprintf("image %s is not a valid image reference: %s", f.x.Image, w.Message)}, true
		case "ErrImagePull", "ImagePullBackOff":
			if f.pullSince.IsZero() {
				f.pullSince = now
			}
			if !f.noticedPullOn {
				f.noticedPullOn = true
				f.e.rec.Notice(ctx, id, job.Reason(w.Reason), fmt.Sprintf("image %s cannot be pulled yet: %s", f.x.Image, w.Message))
			}
			if now.Sub(f.pullSince) >= f.e.opts.PullGrace {
				f.stopWork(ctx)
				return job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonImagePullFailed,
					Message: fmt.Sprintf("image %s could not be pulled for %s: %s", f.x.Image, job.Duration(f.e.opts.PullGrace), w.Message)}, true
			}
			return job.Update{}, false
		}
	}
	f.pullSince = time.Time{}
	if r := st.State.Running; r != nil && f.runningPod != pod.Name {
		f.started(ctx, pod, r.StartedAt.Time, fmt.Sprintf("pod %s running on node %s with a %s deadline", pod.Name, pod.Spec.NodeName, job.Duration(f.x.Deadline)))
		f.stopLogs()
		f.streamLogs(ctx, pod)
	}
	if t := st.State.Terminated; t != nil && f.runningPod != pod.Name && !neverStarted(t) {
		// The pod ran and ended between two looks: it did run.
		f.started(ctx, pod, t.StartedAt.Time, fmt.Sprintf("pod %s ran on node %s", pod.Name, pod.Spec.NodeName))
	}
	return job.Update{}, false
}

// started records that a pod of the run runs: the run's start, or, for a pod in place of
// a disrupted one, a notice.
func (f *follower) started(ctx context.Context, pod *corev1.Pod, at time.Time, msg string) {
	first := f.runningPod == ""
	f.runningPod = pod.Name
	switch {
	case !f.running:
		f.running = true
		f.e.rec.Report(ctx, job.Update{RunID: f.x.Run.ID, State: job.StateRunning, Time: at, Reason: job.ReasonStarted, Message: msg})
	case !first:
		f.e.rec.Notice(ctx, f.x.Run.ID, "Restarted", msg)
	}
	// An adopted run's first pod was reported by the server that started it.
}

// disruption returns the pod's DisruptionTarget condition when the cluster stopped it
// (preemption, eviction, a node drained or tainted): not the job's failure.
func disruption(pod *corev1.Pod) *corev1.PodCondition {
	if pod == nil {
		return nil
	}
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// unschedulable returns the pod's PodScheduled condition when the scheduler found no node.
func unschedulable(pod *corev1.Pod) *corev1.PodCondition {
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// streamLogs follows a running pod's output into the run's log, so docket logs -f shows
// it as it comes.
func (f *follower) streamLogs(ctx context.Context, pod *corev1.Pod) {
	if f.e.opts.Logs == nil {
		return
	}
	ctx, f.logCancel = context.WithCancel(ctx)
	f.logDone = make(chan struct{})
	stream, err := f.e.opts.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	if err != nil {
		close(f.logDone)
		return
	}
	f.streamed = true
	go func() {
		defer close(f.logDone)
		defer stream.Close()
		w := f.openLog()
		defer w.Close()
		io.Copy(w, stream)
	}()
}

// settleLogs makes sure the run's log holds the pod's output before the run ends: the live
// stream is given Options.LogSettle to finish; without one, the output is read once.
func (f *follower) settleLogs(ctx context.Context, pod *corev1.Pod) {
	if f.logDone != nil {
		select {
		case <-f.logDone:
		case <-time.After(f.e.opts.LogSettle):
			f.logCancel()
			<-f.logDone
		}
		f.logCancel()
		if f.streamed {
			return
		}
	}
	f.captureLogs(ctx, pod)
}

// stopLogs ends the live log stream, if any, and waits until its writer is closed.
func (f *follower) stopLogs() {
	if f.logDone != nil {
		f.logCancel()
		<-f.logDone
	}
}

// captureLogs copies the pod's output into the run's log before the Job can be deleted.
// A cluster that cannot serve it (no kubelet answers) is noted on the run.
func (f *follower) captureLogs(ctx context.Context, pod *corev1.Pod) {
	if f.e.opts.Logs == nil {
		return
	}
	if pod == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := f.e.opts.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{}).Stream(ctx)
	if err != nil {
		f.e.rec.Notice(ctx, f.x.Run.ID, "LogsUnavailable", fmt.Sprintf("the output of pod %s could not be read: %v", pod.Name, err))
		return
	}
	defer stream.Close()
	w := f.openLog()
	defer w.Close()
	if _, err := io.Copy(w, stream); err != nil {
		f.e.rec.Notice(ctx, f.x.Run.ID, "LogsIncomplete", fmt.Sprintf("reading the output of pod %s stopped: %v", pod.Name, err))
	}
}

// openLog opens the run's log for a pod's output. For an adopted run the output its
// first server kept is skipped (a pod's log is read from its start), or the header said.
func (f *follower) openLog() io.WriteCloser {
	w := f.e.opts.Logs.OpenLog(f.x.Run.ID)
	if f.header != "" {
		io.WriteString(w, f.header)
		f.header = ""
	}
	if f.skip > 0 {
		w = &skipWriter{WriteCloser: w, skip: f.skip}
		f.skip = 0
	}
	return w
}

// skipWriter drops the first skip bytes written to it.
type skipWriter struct {
	io.WriteCloser
	skip int64
}

func (w *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.skip >= int64(n) {
		w.skip -= int64(n)
		return n, nil
	}
	p, w.skip = p[w.skip:], 0
	if _, err := w.WriteCloser.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}
