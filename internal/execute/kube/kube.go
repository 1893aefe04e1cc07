// Package kube is the executor that runs each run as a Kubernetes batch/v1 Job. It creates
// the Job (deterministic name, Docket's labels, requests and the memory limit, the deadline
// as activeDeadlineSeconds, restartPolicy Never), follows it through label-selected
// informers on Jobs and Pods, and turns what it sees into the run's states with reasons a
// person understands. It also keeps the guard rails of batch work on Kubernetes: an image
// that cannot be pulled fails the run after a grace instead of pending forever, a pod that
// no node can take fails after a pending budget with the scheduler's message, and finished
// Jobs are deleted after a retention unless annotated docket.dev/keep=true.
package kube

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/execute"
	"docket.dev/docket/internal/job"
)

// Labels and annotations Docket puts on its Jobs and their pods.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "docket"
	LabelRun       = "docket.dev/run"
	LabelJob       = "docket.dev/job"
	LabelAttempt   = "docket.dev/attempt"
	// AnnotationKeep on a Job holds it (and its pods) past the retention, for debugging.
	AnnotationKeep = "docket.dev/keep"
	// AnnotationScheduledTime on a scheduled run's Job is its slot (RFC 3339, UTC).
	AnnotationScheduledTime = "docket.dev/scheduled-time"
)

// Options configures an Executor.
type Options struct {
	Client kubernetes.Interface
	// Namespace holds the Jobs of runs whose definition names no namespace.
	Namespace string
	// Namespaces are the others a definition may name (kubernetes.namespace).
	Namespaces []string
	// TeamNamespaces gives teams namespaces of their own: the jobs labelled with a team
	// listed here run only in its namespaces, and no other job runs in them (so a team's
	// service accounts there are its own). Teams not listed share the rest.
	TeamNamespaces map[string][]string
	Reporter       execute.Reporter
	Logs           execute.LogOpener
	Logger         *slog.Logger
	// Pod holds what every run's pod gets; a definition's kubernetes block adds to it.
	Pod PodDefaults
	// PullGrace is how long a pod may wait for its image (ErrImagePull, ImagePullBackOff)
	// before the run fails; default 2 minutes. InvalidImageName fails at once.
	PullGrace time.Duration
	// PendingBudget is how long a pod may stay unschedulable before the run fails with
	// the scheduler's message; default 10 minutes.
	PendingBudget time.Duration
	// Retention is how long a finished Job is kept before Docket deletes it; default 1h.
	Retention time.Duration
	// LogSettle is how long a pod's log stream may take to end after the pod has (default
	// 10s); past it the stream is closed, with what it delivered kept.
	LogSettle time.Duration
	// SweepInterval is how often finished and abandoned Jobs are looked at; default 1m.
	SweepInterval time.Duration
	// Abandoned says whether nobody follows a run any more: it is not in Docket's store, or
	// it is over. Reap deletes such a run's Job while it still works (the run was cancelled
	// or failed while no server followed it). Nil: none is deleted.
	Abandoned func(ctx context.Context, runID string) bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Released, if set, is called each time the executor lets go of a run, so it has
	// room for another.
	Released func()
	// ArrayParallelism caps the pods an array's Indexed Job runs at once (the server's
	// --parallelism), and the array's own parallelism below it; 0: the array's own, or
	// all its tasks.
	ArrayParallelism int
}

// PodDefaults are the placement settings of every run's pod: batch node pools, their
// taints, the identity the pod runs as, its priority.
type PodDefaults struct {
	NodeSelector       map[string]string
	Tolerations        []corev1.Toleration
	ServiceAccountName string
	PriorityClassName  string
	// HelperImage is Docket's own image, run as a pod's init container to fetch a run's
	// input files (docket inputs fetch) into the pod; "" places none (a run with input
	// files then fails InputsUnavailable).
	HelperImage string
}

// Executor runs jobs as Kubernetes Jobs.
type Executor struct {
	opts     Options
	rec      execute.Updater
	now      func() time.Time
	runs     execute.Set
	spaces   map[string]*space      // by namespace name
	nodes    corelisters.NodeLister // nil when nodes cannot be listed
	mu       sync.Mutex
	wakers   map[string]chan struct{} // by run, or for an array's task by taskPods.key
	arrays   map[string]int           // how many tasks of each array run are held
	creating map[string]*creation     // arrays' Jobs being created, by namespace/name
}

// space is the informers' view of Docket's Jobs and pods in one namespace.
type space struct {
	name string
	jobs batchlisters.JobNamespaceLister
	pods cache.Indexer // Docket's pods in the namespace, by run and by task
}

// New returns an Executor whose informers run until ctx ends. It waits for their caches
// to fill, so the first Start already sees the cluster as it is.
func New(ctx context.Context, opts Options) (*Executor, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.PullGrace <= 0 {
		opts.PullGrace = 2 * time.Minute
	}
	if opts.PendingBudget <= 0 {
		opts.PendingBudget = 10 * time.Minute
	}
	if opts.Retention <= 0 {
		opts.Retention = time.Hour
	}
	if opts.LogSettle <= 0 {
		opts.LogSettle = 10 * time.Second
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Minute
	}
	e := &Executor{
		opts:   opts,
		now:    opts.Now,
		rec:    execute.Updater{Reporter: opts.Reporter, Logger: opts.Logger, Now: opts.Now},
		runs:   execute.Set{Released: opts.Released},
		wakers: map[string]chan struct{}{},
		arrays: map[string]int{}, creating: map[string]*creation{},
		spaces: map[string]*space{},
	}
	for _, ns := range append([]string{opts.Namespace}, opts.Namespaces...) {
		if e.spaces[ns] != nil {
			continue
		}
		sp, err := e.watch(ctx, ns)
		if err != nil {
			return nil, err
		}
		e.spaces[ns] = sp
	}
	// Nodes are read to refuse requests no node can take; without them Docket still runs.
	nodeFactory := informers.NewSharedInformerFactory(opts.Client, 0)
	nodeInformer := nodeFactory.Core().V1().Nodes()
	nodeInformer.Informer()
	nodeFactory.Start(ctx.Done())
	nodeCtx, cancelNodes := context.WithTimeout(ctx, 10*time.Second)
	defer cancelNodes()
	if cache.WaitForCacheSync(nodeCtx.Done(), nodeInformer.Informer().HasSynced) {
		e.nodes = nodeInformer.Lister()
	} else {
		opts.Logger.Warn("cannot list nodes; requests are not checked against node sizes (grant list and watch on nodes)")
	}
	return e, nil
}

// watch starts label-selected informers on Docket's Jobs and pods in one namespace and
// waits for their caches to fill.
func (e *Executor) watch(ctx context.Context, ns string) (*space, error) {
	factory := informers.NewSharedInformerFactoryWithOptions(e.opts.Client, 0,
		informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelManagedBy + "=" + ManagedBy }))
	jobInformer, podInformer := factory.Batch().V1().Jobs(), factory.Core().V1().Pods()
	// Pods are looked up by run, and an array's by task, in their own indexes: a look at a
	// run's pods reads them, not every pod of the namespace.
	if err := podInformer.Informer().AddIndexers(cache.Indexers{indexRun: podRun, indexTask: podTask}); err != nil {
		return nil, err
	}
	for _, inf := range []cache.SharedIndexInformer{jobInformer.Informer(), podInformer.Informer()} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    e.wake,
			UpdateFunc: func(_, obj any) { e.wake(obj) },
			DeleteFunc: e.wake,
		}); err != nil {
			return nil, err
		}
	}
	factory.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for typ, ok := range factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			return nil, fmt.Errorf("watch %v in namespace %s: the caches did not fill in 30s (is the API server reachable, and may Docket list and watch Jobs and Pods there?)", typ, ns)
		}
	}
	return &space{name: ns, jobs: jobInformer.Lister().Jobs(ns), pods: podInformer.Informer().GetIndexer()}, nil
}

// The pod indexes: by the run label, and by an array task (the run label, the array's,
// and the completion index).
const (
	indexRun  = "run"
	indexTask = "task"
)

func podRun(obj any) ([]string, error) {
	if m, ok := obj.(metav1.Object); ok && m.GetLabels()[LabelRun] != "" {
		return []string{m.GetLabels()[LabelRun]}, nil
	}
	return nil, nil
}

func podTask(obj any) ([]string, error) {
	if m, ok := obj.(metav1.Object); ok {
		if key := taskKey(m); key != "" {
			return []string{key}, nil
		}
	}
	return nil, nil
}

// taskKey is the key of the array task an object (a pod of an Indexed Job) is of, if any:
// by the completion index's annotation, which every version with Indexed Jobs sets (the
// label came later).
func taskKey(m metav1.Object) string {
	run, index := m.GetLabels()[LabelRun], m.GetAnnotations()[AnnotationCompletionIndex]
	if run == "" || index == "" {
		return ""
	}
	return run + "/" + index
}

// byIndex returns the pods under key in one of the pod indexes.
func (sp *space) byIndex(index, key string) []*corev1.Pod {
	objs, err := sp.pods.ByIndex(index, key)
	if err != nil {
		return nil
	}
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && p.Namespace == sp.name {
			pods = append(pods, p)
		}
	}
	return pods
}

// space returns the namespace a run's Job goes in: its definition's, or the default.
func (e *Executor) space(k *job.Kubernetes) (*space, error) {
	ns := e.opts.Namespace
	if k != nil && k.Namespace != "" {
		ns = k.Namespace
	}
	if sp := e.spaces[ns]; sp != nil {
		return sp, nil
	}
	return nil, job.Invalid("kubernetes.namespace", "%q is not a namespace this server runs Jobs in; it runs them in %s", ns, strings.Join(slices.Sorted(maps.Keys(e.spaces)), ", "))
}

// spaceFor is space for a job with these labels, refusing a namespace its team may not
// use (Options.TeamNamespaces).
func (e *Executor) spaceFor(k *job.Kubernetes, labels map[string]string) (*space, error) {
	sp, err := e.space(k)
	if err != nil {
		return nil, err
	}
	team := labels[auth.TeamLabel]
	if own, ok := e.opts.TeamNamespaces[team]; ok && team != "" {
		if !slices.Contains(own, sp.name) {
			return nil, job.Invalid("kubernetes.namespace", "jobs of team %q run only in %s (the server's --team-namespace); not in %s", team, strings.Join(own, ", "), sp.name)
		}
		return sp, nil
	}
	for _, other := range slices.Sorted(maps.Keys(e.opts.TeamNamespaces)) {
		if slices.Contains(e.opts.TeamNamespaces[other], sp.name) {
			whose := "this job has no " + auth.TeamLabel + " label"
			if team != "" {
				whose = fmt.Sprintf("this job's is %q", team)
			}
			return nil, job.Invalid("kubernetes.namespace", "namespace %s is team %q's (the server's --team-namespace): only its jobs run there; %s", sp.name, other, whose)
		}
	}
	return sp, nil
}

// wake tells the run an object belongs to that it changed.
func (e *Executor) wake(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	run := m.GetLabels()[LabelRun]
	e.mu.Lock()
	defer e.mu.Unlock()
	ring(e.wakers[run])
	if key := taskKey(m); key != "" {
		ring(e.wakers[key])
	}
	// An array's Job ending (or gone) ends the tasks whose pods have not: its tasks are
	// woken then, not at each of its status updates.
	if j, isJob := obj.(*batchv1.Job); isJob && e.arrays[run] > 0 {
		if finished, _ := jobFinished(j); finished || j.DeletionTimestamp != nil {
			for key, ch := range e.wakers {
				if strings.HasPrefix(key, run+"/") {
					ring(ch)
				}
			}
		}
	}
}

// ring rings a waker without waiting; a nil one is not rung.
func ring(ch chan struct{}) {
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Name is the Job's name for a run: deterministic, so a Job left behind is found again.
func Name(runID string) string { return "docket-" + runID }

// Running returns how many runs the executor holds.
func (e *Executor) Running() int { return e.runs.Len() }

// Cancel deletes a run's Job; the run is recorded as cancelled by by. It returns
// job.ErrNotFound when this executor holds no such run.
func (e *Executor) Cancel(_ context.Context, runID, by string) error {
	return e.runs.Cancel(runID, by)
}

// Run deletes finished Jobs past the retention every SweepInterval until ctx ends, then
// stops every run it holds (deleting their Jobs; each run is recorded as interrupted).
func (e *Executor) Run(ctx context.Context) error {
	t := time.NewTicker(e.opts.SweepInterval)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-t.C:
			if _, err := e.Sweep(ctx); err != nil && ctx.Err() == nil {
				e.opts.Logger.Warn("delete finished Jobs", "err", err)
			}
			if _, err := e.Reap(ctx); err != nil && ctx.Err() == nil {
				e.opts.Logger.Warn("delete abandoned Jobs", "err", err)
			}
		case <-ctx.Done():
		}
	}
	// The Jobs run on: the server that starts next follows them on (Adopt).
	e.runs.Shutdown(execute.Released)
	return nil
}

// Start records the run as pending, creates its Job (for a task of an array, its array's
// Indexed Job, unless another task did) and follows it in the background. It returns an
// error only when the run could not be marked as starting.
func (e *Executor) Start(ctx context.Context, x job.Execution) error {
	id := x.Run.ID
	h, err := e.runs.Add(id)
	if err != nil {
		return err
	}
	// Pending is recorded before the Job exists: after a crash, a pending run is known to
	// have maybe started and is never started again under the same attempt.
	ns := e.opts.Namespace
	if sp, err := e.space(x.Kubernetes); err == nil {
		ns = sp.name
	}
	msg := fmt.Sprintf("creating Job %s in namespace %s", Name(id), ns)
	if indexed(x, e.opts.Pod.HelperImage) {
		msg = fmt.Sprintf("task %d runs as index %d of the array's Indexed Job %s in namespace %s", *x.Run.TaskIndex, *x.Run.TaskIndex, Name(x.Array.RunID), ns)
	}
	if err := e.rec.Report(ctx, job.Update{RunID: id, State: job.StatePending, Reason: job.ReasonStarting, Message: msg, Notes: x.Notes}); err != nil {
		e.runs.Release(id)
		return fmt.Errorf("mark run %s pending: %w", id, err)
	}
	e.hold(ctx, h, x, func(ctx context.Context) (*follower, job.Update) {
		if len(x.Inputs) > 0 && e.opts.Pod.HelperImage == "" {
			// Nothing would fetch them: a run must not start without its files.
			return nil, execute.InputsUnavailable(id, x.Inputs[0], fmt.Errorf("the server has no --helper-image to fetch input files into the pod with"))
		}
		sp, err := e.spaceFor(x.Kubernetes, x.Labels)
		if err != nil {
			return nil, job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonStartFailed, Message: err.Error()}
		}
		f := &follower{e: e, sp: sp, x: x, created: e.now()}
		var spec *batchv1.Job
		if indexed(x, e.opts.Pod.HelperImage) {
			f.task = newTaskPods(x)
			if spec, err = arrayJobFor(x, sp.name, e.opts.Pod, e.opts.ArrayParallelism); err == nil {
				err = e.createArrayJob(ctx, sp, spec)
			}
		} else if spec, err = jobFor(x, sp.name, e.opts.Pod); err == nil {
			err = e.create(ctx, spec)
		}
		if err != nil {
			return nil, job.Update{RunID: id, State: job.StateFailed, Reason: job.ReasonStartFailed, Message: err.Error()}
		}
		f.name = spec.Name
		return f, job.Update{}
	})
	return nil
}

// Adopt follows on a run that a server now gone started: its Job is still in the cluster,
// so the work goes on, and this executor reports what happens from here as if it had
// started it. logged is how many bytes of the run's output are kept already; they are not
// kept twice. It returns false, holding nothing, when the run has no Job to follow (its
// server stopped before creating it, or the Job was deleted).
func (e *Executor) Adopt(ctx context.Context, x job.Execution, logged int64) (bool, error) {
	sp, err := e.space(x.Kubernetes)
	if err != nil {
		return false, nil
	}
	f := &follower{e: e, sp: sp, x: x, name: Name(x.Run.ID), running: x.Run.State == job.StateRunning}
	owner := x.Run.ID
	if indexed(x, e.opts.Pod.HelperImage) {
		f.task, f.name, owner = newTaskPods(x), Name(x.Array.RunID), x.Array.RunID
	}
	j, err := sp.jobs.Get(f.name)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	case j.Labels[LabelRun] != owner:
		return false, nil
	}
	f.created = j.CreationTimestamp.Time
	// The output kept is of the run's one pod, so its start is skipped. When the cluster
	// has replaced a pod, how much of the newest pod's output is kept is not known: it is
	// kept again from its start, under a line that says so, rather than cut short.
	pods := sp.byIndex(indexRun, x.Run.ID)
	if f.task != nil {
		pods = slices.DeleteFunc(sp.byIndex(indexTask, f.task.key()), func(p *corev1.Pod) bool { return !f.task.mine(p) })
	}
	f.skip = logged
	if len(pods) > 1 && logged > 0 {
		f.skip = 0
		f.header = "[docket: another server follows this run from here; the output of its newest pod is kept from its start, so lines above may repeat]\n"
	}
	h, err := e.runs.Add(x.Run.ID)
	if err != nil {
		return false, err
	}
	e.hold(ctx, h, x, func(context.Context) (*follower, job.Update) { return f, job.Update{} })
	return true, nil
}

// hold follows a held run in the background until it ends: start creates or finds its Job
// (or returns the run's final update when it cannot).
func (e *Executor) hold(ctx context.Context, h *execute.Handle, x job.Execution, start func(context.Context) (*follower, job.Update)) {
	id, key, array := x.Run.ID, x.Run.ID, ""
	if indexed(x, e.opts.Pod.HelperImage) {
		key, array = newTaskPods(x).key(), x.Array.RunID
	}
	wake := make(chan struct{}, 1)
	e.mu.Lock()
	e.wakers[key] = wake
	if array != "" {
		e.arrays[array]++
	}
	e.mu.Unlock()
	go func() {
		defer e.runs.Release(id)
		defer func() {
			e.mu.Lock()
			delete(e.wakers, key)
			if array != "" {
				if e.arrays[array]--; e.arrays[array] == 0 {
					delete(e.arrays, array)
				}
			}
			e.mu.Unlock()
		}()
		// API calls outlive a shutdown of the caller: the Job must be deleted and the
		// record written, whatever happens to ctx.
		bg := context.WithoutCancel(ctx)
		f, u := start(bg)
		if f != nil {
			u = e.follow(bg, h, wake, f)
		}
		if u.State != "" { // a released run goes on under the next server
			e.rec.Final(bg, u)
		}
	}()
}

// follow follows a run's Job to its end, or until the run is stopped: a released run's
// Job is left running, any other stop deletes it.
func (e *Executor) follow(ctx context.Context, h *execute.Handle, wake <-chan struct{}, f *follower) job.Update {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if u, done := f.look(ctx); done {
			f.stopLogs()
			return u
		}
		select {
		case why := <-h.Stopped():
			f.stopLogs()
			if why == execute.Released {
				return job.Update{}
			}
			f.stopWork(ctx)
			return job.Update{RunID: f.x.Run.ID, State: why.State, Reason: why.Reason, Message: why.Message}
		case <-wake:
		case <-tick.C:
		}
	}
}

// create creates the Job. One that exists already counts as created when it is this run's
// (a start repeated after a crash); another's is an error.
func (e *Executor) create(ctx context.Context, spec *batchv1.Job) error {
	_, err := e.opts.Client.BatchV1().Jobs(spec.Namespace).Create(ctx, spec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		have, getErr := e.opts.Client.BatchV1().Jobs(spec.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
		if getErr == nil && have.Labels[LabelRun] == spec.Labels[LabelRun] && have.Labels[LabelManagedBy] == ManagedBy {
			return nil
		}
		return fmt.Errorf("a Job named %s exists in namespace %s and is not this run's", spec.Name, spec.Namespace)
	}
	if err != nil {
		return fmt.Errorf("create Job %s in namespace %s: %w", spec.Name, spec.Namespace, err)
	}
	return nil
}

// delete deletes a Job and, through the garbage collector, its pods.
func (e *Executor) delete(ctx context.Context, ns, name string) {
	policy := metav1.DeletePropagationBackground
	err := e.opts.Client.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy})
	if err != nil && !apierrors.IsNotFound(err) {
		e.opts.Logger.Warn("delete Job", "namespace", ns, "job", name, "err", err)
	}
}
