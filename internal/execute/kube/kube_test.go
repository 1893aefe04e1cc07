package kube

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// fixture is an executor on the test control plane, in a namespace of the test's own.
type fixture struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
	e      *Executor
	rec    *executetest.Recorder
	// stop stops the executor as a server's shutdown does: the Jobs of its runs run on.
	stop func()
}

// setup starts an executor with opts on the test control plane (on opts.Client's, when
// set), in a namespace of the test's own (opts.Namespace, when set).
func setup(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.Client == nil {
		opts.Client = kubetest.Client(t)
	}
	if opts.Namespace == "" {
		opts.Namespace = kubetest.Namespace(t, opts.Client)
	}
	client, ns := opts.Client, opts.Namespace
	rec := executetest.New()
	opts.Reporter, opts.Logs = rec, rec
	ctx, cancel := context.WithCancel(context.Background())
	e, err := New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		<-done
	})
	t.Cleanup(stop)
	return &fixture{t: t, client: client, ns: ns, e: e, rec: rec, stop: stop}
}

// start starts a run whose pod's life the KWOK annotations choose.
func (f *fixture) start(deadline time.Duration, cpu string, annotations map[string]string) job.Execution {
	f.t.Helper()
	id := job.NewRunID(time.Now())
	x := job.Execution{
		Run:   job.Run{ID: id, Job: "nightly", Attempt: 1},
		Image: "registry.example.com/ds/train:1.4.2", Command: []string{"python", "train.py"},
		CPU: cpu, Memory: "64Mi", Deadline: deadline,
		Env:         map[string]string{"DOCKET_RUN_ID": id, "MODE": "test"},
		Labels:      map[string]string{"team": "ds"},
		Annotations: annotations,
		// What the dispatcher found in resolving the run, recorded with its pending state.
		Notes: []job.Note{{Reason: job.ReasonResultMissing, Message: "a step's result had no such key"}},
	}
	if err := f.e.Start(context.Background(), x); err != nil {
		f.t.Fatal(err)
	}
	return x
}

func (f *fixture) jobExists(name string) bool {
	f.t.Helper()
	_, err := f.client.BatchV1().Jobs(f.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		f.t.Fatal(err)
	}
	return err == nil
}

// waitFor waits until cond holds, failing the test after within.
func (f *fixture) waitFor(what string, within time.Duration, cond func() bool) {
	f.t.Helper()
	for deadline := time.Now().Add(within); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.t.Fatalf("waited %v for %s", within, what)
		}
	}
}

// waitReason waits until a run has reported reason.
func (f *fixture) waitReason(runID, reason string) {
	f.t.Helper()
	f.waitFor("run "+runID+" to report "+reason, 30*time.Second, func() bool { return slices.Contains(f.rec.Reasons(runID), reason) })
}

func (f *fixture) waitGone(name string) {
	f.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.jobExists(name); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			f.t.Fatalf("Job %s was not deleted", name)
		}
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		annotations map[string]string
		state       job.State
		reason      job.Reason
		exit        int
		message     string
	}{
		{"success", nil, job.StateSucceeded, "Completed", 0, "exited with code 0"},
		{"exit code", map[string]string{"kwok.docket.dev/exit-code": "3"}, job.StateFailed, "ExitCode", 3, "exited with code 3"},
		{"out of memory", map[string]string{"kwok.docket.dev/exit-code": "137", "kwok.docket.dev/reason": "OOMKilled"},
			job.StateFailed, "OOMKilled", 137, "killed by the kernel for using more than its memory limit of 64Mi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{})
			x := f.start(time.Minute, "100m", tt.annotations)
			u := f.rec.Finish(t, 30*time.Second)
			if u.State != tt.state || u.Reason != tt.reason || u.ExitCode == nil || *u.ExitCode != tt.exit || !strings.HasPrefix(u.Message, tt.message) {
				t.Errorf("final update %+v (exit %v); want %s %s exit %d %q", u, u.ExitCode, tt.state, tt.reason, tt.exit, tt.message)
			}
			var states []job.State
			for _, up := range f.rec.Updates(x.Run.ID) {
				if up.State != "" {
					states = append(states, up.State)
				}
			}
			if want := []job.State{job.StatePending, job.StateRunning, tt.state}; !equal(states, want) {
				t.Errorf("states %v, want %v; updates %v", states, want, f.rec.Reasons(x.Run.ID))
			}
			reasons := strings.Join(f.rec.Reasons(x.Run.ID), " ")
			if !strings.HasPrefix(reasons, "Starting ResultMissing ") || strings.Count(reasons, "ResultMissing") != 1 {
				t.Errorf("the run's note is not recorded once, with its pending state: %s", reasons)
			}
			if !strings.Contains(reasons, "Scheduled") {
				t.Errorf("no Scheduled notice: %s", reasons)
			}
			// KWOK plays no kubelet, so the logs endpoint fails; the run says so.
			if !strings.Contains(reasons, "LogsUnavailable") {
				t.Errorf("no LogsUnavailable notice: %s", reasons)
			}
			// The finished Job stays until the retention has passed.
			if !f.jobExists(Name(x.Run.ID)) {
				t.Error("the finished Job was deleted before its retention")
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestJobSpec checks what Docket asks of Kubernetes for a run.
func TestJobSpec(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{Pod: PodDefaults{NodeSelector: map[string]string{"type": "kwok"},
		Tolerations: []corev1.Toleration{{Key: "pool", Operator: corev1.TolerationOpEqual, Value: "batch", Effect: corev1.TaintEffectNoSchedule}}}})
	x := f.start(90*time.Second, "250m", map[string]string{"kwok.docket.dev/run-for": "30s", "owner": "ana"})
	// The Job is created in the background, after the run is recorded pending.
	var j *batchv1.Job
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if j, err = f.client.BatchV1().Jobs(f.ns).Get(context.Background(), Name(x.Run.ID), metav1.GetOptions{}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Job %s: %v", Name(x.Run.ID), err)
		}
	}
	spec := j.Spec
	pod := spec.Template.Spec
	c := pod.Containers[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"managed-by label", j.Labels[LabelManagedBy], "docket"},
		{"job label", j.Labels[LabelJob], "nightly"},
		{"run label", j.Labels[LabelRun], x.Run.ID},
		{"pod's team label", spec.Template.Labels["team"], "ds"},
		{"pod's run label", spec.Template.Labels[LabelRun], x.Run.ID},
		{"pod annotation", spec.Template.Annotations["owner"], "ana"},
		{"activeDeadlineSeconds", *spec.ActiveDeadlineSeconds, int64(90)},
		{"backoffLimit", *spec.BackoffLimit, int32(0)},
		{"a disrupted pod is not a failure", len(spec.PodFailurePolicy.Rules) == 1 && spec.PodFailurePolicy.Rules[0].Action == batchv1.PodFailurePolicyActionIgnore &&
			spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Type == corev1.DisruptionTarget, true},
		{"restartPolicy", string(pod.RestartPolicy), "Never"},
		{"node selector", pod.NodeSelector["type"], "kwok"},
		{"toleration", len(pod.Tolerations) == 1 && pod.Tolerations[0].Key == "pool" && pod.Tolerations[0].Value == "batch", true},
		{"image", c.Image, x.Image},
		{"command", strings.Join(c.Command, " "), "python train.py"},
		{"cpu request", c.Resources.Requests.Cpu().String(), "250m"},
		{"memory request", c.Resources.Requests.Memory().String(), "64Mi"},
		{"memory limit", c.Resources.Limits.Memory().String(), "64Mi"},
		{"no cpu limit", c.Resources.Limits.Cpu().IsZero(), true},
		{"env", len(c.Env) == 2 && c.Env[0].Name == "DOCKET_RUN_ID" && c.Env[1].Name == "MODE", true},
		{"no service account token", *pod.AutomountServiceAccountToken, false},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.what, ch.got, ch.want)
		}
	}
	// Cancel deletes the Job.
	if err := f.e.Cancel(context.Background(), x.Run.ID, "ana"); err != nil {
		t.Fatal(err)
	}
	u := f.rec.Finish(t, 30*time.Second)
	if u.State != job.StateCancelled || u.Message != "cancelled by ana" {
		t.Errorf("cancel: %+v", u)
	}
	f.waitGone(Name(x.Run.ID))
}

// TestDisruption evicts a running run's pod, as a node drain does: the Job starts another
// pod in its place (podFailurePolicy Ignore on DisruptionTarget), and the run goes on to
// its end instead of failing with the SIGTERM's exit code.
func TestDisruption(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	// Long enough for the pod put in place of the evicted one to run a while after a late
	// eviction: with 8 s, once, on a loaded machine, the run ended with no Restarted notice.
	until := time.Now().Add(14 * time.Second).UTC().Format(time.RFC3339)
	x := f.start(time.Minute, "100m", map[string]string{"kwok.docket.dev/run-for": until})
	ctx := context.Background()
	var pod string
	for deadline := time.Now().Add(15 * time.Second); pod == ""; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the run did not start: %v", f.rec.Reasons(x.Run.ID))
		}
		if slices.Contains(f.rec.Reasons(x.Run.ID), "Started") {
			pods, err := f.client.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + x.Run.ID})
			if err != nil || len(pods.Items) != 1 {
				t.Fatalf("the run's pods: %v %v", err, pods)
			}
			pod = pods.Items[0].Name
		}
	}
	if err := f.client.PolicyV1().Evictions(f.ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: f.ns}}); err != nil {
		t.Fatalf("evict %s: %v", pod, err)
	}
	u := f.rec.Finish(t, 30*time.Second)
	if u.State != job.StateSucceeded {
		t.Errorf("the run whose pod was evicted ended %+v", u)
	}
	var disrupted, restarted string
	var states []job.State
	for _, e := range f.rec.Updates(x.Run.ID) {
		if e.State != "" {
			states = append(states, e.State)
		}
		switch e.Reason {
		case "Disrupted":
			disrupted = e.Message
		case "Restarted":
			restarted = e.Message
		}
	}
	if !strings.HasPrefix(disrupted, "pod "+pod+" on node kwok-node-") || !strings.Contains(disrupted, "(EvictionByEvictionAPI: ") {
		t.Errorf("Disrupted notice %q", disrupted)
	}
	if !strings.HasPrefix(restarted, "pod docket-") || strings.HasPrefix(restarted, "pod "+pod) {
		t.Errorf("Restarted notice %q", restarted)
	}
	if !equal(states, []job.State{job.StatePending, job.StateRunning, job.StateSucceeded}) {
		t.Errorf("states %v", states)
	}
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	f.start(2*time.Second, "100m", map[string]string{"kwok.docket.dev/run-for": "60s"})
	u := f.rec.Finish(t, 30*time.Second)
	if u.State != job.StateFailed || u.Reason != "DeadlineExceeded" || u.Message != "exceeded its 2s deadline" {
		t.Errorf("final update %+v", u)
	}
}

// TestGuardRails checks the runs Kubernetes would leave pending forever.
func TestGuardRails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		cpu         string
		annotations map[string]string
		reason      job.Reason
		message     []string
	}{
		{"image cannot be pulled", "100m", map[string]string{"kwok.docket.dev/image": "pull-fail"}, "ImagePullFailed",
			[]string{"image registry.example.com/ds/train:1.4.2 could not be pulled for 2s", "Back-off pulling image"}},
		{"invalid image name", "100m", map[string]string{"kwok.docket.dev/image": "invalid"}, "InvalidImageName",
			[]string{"image registry.example.com/ds/train:1.4.2 is not a valid image reference"}},
		{"no node fits", "64", nil, "Unschedulable",
			[]string{"no node could take the pod for 2s", "Insufficient cpu"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Options{PullGrace: 2 * time.Second, PendingBudget: 2 * time.Second})
			start := time.Now()
			x := f.start(time.Minute, tt.cpu, tt.annotations)
			u := f.rec.Finish(t, 30*time.Second)
			if u.State != job.StateFailed || u.Reason != tt.reason {
				t.Errorf("final update %+v; want failed %s", u, tt.reason)
			}
			for _, m := range tt.message {
				if !strings.Contains(u.Message, m) {
					t.Errorf("message %q lacks %q", u.Message, m)
				}
			}
			t.Logf("%s failed after %v: %s", tt.name, time.Since(start).Round(100*time.Millisecond), u.Message)
			f.waitGone(Name(x.Run.ID))
		})
	}
}

// TestAdmit checks what a definition is refused for before it runs: requests no node can
// take (counting only the nodes its node selector allows), a namespace the server does not
// use, a service account or priority class that does not exist.
func TestAdmit(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{})
	admit := func(cpu, memory string, k *job.Kubernetes) error {
		return f.e.Admit(context.Background(), job.Spec{CPU: cpu, Memory: memory, Kubernetes: k})
	}
	tests := []struct {
		cpu, memory, field string
	}{
		{"100m", "64Mi", ""},
		{"8", "32Gi", ""},
		{"64", "1Gi", "cpu"},
		{"1", "64Gi", "memory"},
		{"64", "64Gi", "cpu"},
	}
	for _, tt := range tests {
		err := admit(tt.cpu, tt.memory, nil)
		var fe *job.FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("Admit(%s, %s) = %v, want nil", tt.cpu, tt.memory, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("Admit(%s, %s) = %v, want an error on %s", tt.cpu, tt.memory, err, tt.field)
		case tt.field != "" && !strings.Contains(err.Error(), "requests cpu "+tt.cpu+" and memory "+tt.memory+", but no node has that much allocatable; the largest (kwok-node-"):
			t.Errorf("Admit(%s, %s) = %v", tt.cpu, tt.memory, err)
		case tt.field != "" && !strings.Contains(err.Error(), "has cpu 8 and memory 32Gi"):
			t.Errorf("Admit(%s, %s) = %v; want the largest node's allocatable", tt.cpu, tt.memory, err)
		}
	}
	// The definition's node selector narrows the nodes; with none in its pool, nothing is
	// refused (a pool may scale from zero).
	one := &job.Kubernetes{NodeSelector: map[string]string{"kubernetes.io/hostname": "kwok-node-0"}}
	if err := admit("64", "1Gi", one); err == nil || !strings.Contains(err.Error(), "no node matching kubernetes.io/hostname=kwok-node-0 has that much") {
		t.Errorf("a job for one node: %v", err)
	}
	if err := admit("64", "64Gi", &job.Kubernetes{NodeSelector: map[string]string{"pool": "gpu"}}); err != nil {
		t.Errorf("a job for an empty pool: %v", err)
	}
	pool := setup(t, Options{Pod: PodDefaults{NodeSelector: map[string]string{"pool": "gpu"}}})
	if err := pool.e.Admit(context.Background(), job.Spec{CPU: "64", Memory: "64Gi"}); err != nil {
		t.Errorf("with no node in the server's pool: %v", err)
	}

	for _, tt := range []struct {
		k             *job.Kubernetes
		field, reason string
	}{
		{&job.Kubernetes{Namespace: "elsewhere"}, "kubernetes.namespace", `"elsewhere" is not a namespace this server runs Jobs in; it runs them in ` + f.ns},
		{&job.Kubernetes{Namespace: f.ns, ServiceAccount: "default"}, "", ""},
		{&job.Kubernetes{ServiceAccount: "trainer"}, "kubernetes.service_account", `no ServiceAccount "trainer" in namespace ` + f.ns},
		{&job.Kubernetes{PriorityClass: "system-cluster-critical"}, "", ""},
		{&job.Kubernetes{PriorityClass: "batch-low-nonexistent"}, "kubernetes.priority_class", `no PriorityClass "batch-low-nonexistent" in the cluster`},
	} {
		err := admit("1", "1Gi", tt.k)
		var fe *job.FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("Admit(%+v) = %v, want nil", tt.k, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field || fe.Message != tt.reason):
			t.Errorf("Admit(%+v) = %v, want %s: %s", tt.k, err, tt.field, tt.reason)
		}
	}
}

// TestTeamNamespaces: with a namespace of team ds's own, ds's jobs are admitted only
// there, and no other job is (another team's, one without a team); a run that reaches the
// executor in a namespace its team may not use fails to start, with no Job made.
func TestTeamNamespaces(t *testing.T) {
	t.Parallel()
	client := kubetest.Client(t)
	ds := kubetest.Namespace(t, client)
	f := setup(t, Options{Namespaces: []string{ds}, TeamNamespaces: map[string][]string{"ds": {ds}}})
	ctx := context.Background()
	for _, tt := range []struct {
		team, ns, reason string
	}{
		{"ds", ds, ""},
		{"ds", "", "jobs of team \"ds\" run only in " + ds + " (the server's --team-namespace); not in " + f.ns},
		{"etl", "", ""},
		{"etl", ds, "namespace " + ds + " is team \"ds\"'s (the server's --team-namespace): only its jobs run there; this job's is \"etl\""},
		{"", ds, "namespace " + ds + " is team \"ds\"'s (the server's --team-namespace): only its jobs run there; this job has no team label"},
	} {
		spec := job.Spec{CPU: "100m", Memory: "64Mi", Kubernetes: &job.Kubernetes{Namespace: tt.ns}}
		if tt.team != "" {
			spec.Labels = map[string]string{"team": tt.team}
		}
		err := f.e.Admit(ctx, spec)
		var fe *job.FieldError
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("team %q in %q: %v; want it admitted", tt.team, tt.ns, err)
		case tt.reason != "" && (!errors.As(err, &fe) || fe.Field != "kubernetes.namespace" || fe.Message != tt.reason):
			t.Errorf("team %q in %q: %v; want kubernetes.namespace: %s", tt.team, tt.ns, err, tt.reason)
		}
	}

	x := job.Execution{
		Run: job.Run{ID: job.NewRunID(time.Now()), Job: "etl-load", Attempt: 1}, Image: "registry.example.com/etl/load:1",
		CPU: "100m", Memory: "64Mi", Deadline: time.Minute, Labels: map[string]string{"team": "etl"}, Kubernetes: &job.Kubernetes{Namespace: ds},
	}
	if err := f.e.Start(ctx, x); err != nil {
		t.Fatal(err)
	}
	if u := f.rec.Finish(t, 30*time.Second); u.State != job.StateFailed || u.Reason != job.ReasonStartFailed || !strings.Contains(u.Message, "is team \"ds\"'s") {
		t.Errorf("a run of team etl in ds's namespace ended %+v; want StartFailed naming ds's namespace", u)
	}
	if jobs, err := client.BatchV1().Jobs(ds).List(ctx, metav1.ListOptions{}); err != nil || len(jobs.Items) != 0 {
		t.Errorf("Jobs in ds's namespace: %v %v; want none", jobs, err)
	}
}

// TestPlacement runs a job whose definition places it: in another namespace the server
// runs Jobs in, on a node pool behind a taint, as its own service account, at its own
// priority. The pod gets the server's placement and the definition's together.
func TestPlacement(t *testing.T) {
	t.Parallel()
	client := kubetest.Client(t)
	other := kubetest.Namespace(t, client)
	ctx := context.Background()
	if _, err := client.CoreV1().ServiceAccounts(other).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "trainer"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f := setup(t, Options{Namespaces: []string{other}, Pod: PodDefaults{
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		Tolerations:  []corev1.Toleration{{Key: "pool", Operator: corev1.TolerationOpEqual, Value: "batch", Effect: corev1.TaintEffectNoSchedule}},
	}})
	k := &job.Kubernetes{
		Namespace:      other,
		NodeSelector:   map[string]string{"kubernetes.io/hostname": "kwok-node-1"},
		Tolerations:    []string{"gpu:NoSchedule"},
		ServiceAccount: "trainer",
		PriorityClass:  "system-cluster-critical",
	}
	if err := f.e.Admit(ctx, job.Spec{CPU: "1", Memory: "1Gi", Kubernetes: k}); err != nil {
		t.Fatalf("Admit: %v", err)
	}
	x := job.Execution{
		Run: job.Run{ID: job.NewRunID(time.Now()), Job: "placed", Attempt: 1}, Image: "registry.example.com/ds/train:1.4.2",
		CPU: "100m", Memory: "64Mi", Deadline: time.Minute, Kubernetes: k,
	}
	if err := f.e.Start(ctx, x); err != nil {
		t.Fatal(err)
	}
	if u := f.rec.Finish(t, 30*time.Second); u.State != job.StateSucceeded {
		t.Fatalf("the placed run ended %+v", u)
	}
	if r := f.rec.Reasons(x.Run.ID); !slices.Contains(r, "Scheduled") {
		t.Errorf("reasons %v", r)
	}
	j, err := client.BatchV1().Jobs(other).Get(ctx, Name(x.Run.ID), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Job is not in namespace %s: %v", other, err)
	}
	pod := j.Spec.Template.Spec
	want := map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/hostname": "kwok-node-1"}
	if !maps.Equal(pod.NodeSelector, want) || len(pod.Tolerations) != 2 || pod.Tolerations[1].Key != "gpu" ||
		pod.ServiceAccountName != "trainer" || pod.PriorityClassName != "system-cluster-critical" {
		t.Errorf("pod placement: selector %v, tolerations %+v, service account %q, priority class %q",
			pod.NodeSelector, pod.Tolerations, pod.ServiceAccountName, pod.PriorityClassName)
	}
	pods, err := client.CoreV1().Pods(other).List(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + x.Run.ID})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Spec.NodeName != "kwok-node-1" || pods.Items[0].Spec.Priority == nil {
		t.Fatalf("the run's pod: %v %+v", err, pods)
	}
	if _, err := client.BatchV1().Jobs(f.ns).Get(ctx, Name(x.Run.ID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a Job in the default namespace too: %v", err)
	}
}

// TestJobForSlot checks that a scheduled run's Job carries its slot, as a CronJob's Job
// carries its scheduled timestamp, and an on-demand run's does not.
func TestJobForSlot(t *testing.T) {
	t.Parallel()
	slot := time.Date(2026, 11, 23, 3, 0, 0, 0, time.FixedZone("EST", -5*3600))
	x := job.Execution{Run: job.Run{ID: "r1", Job: "nightly", Attempt: 1, ScheduledTime: &slot}, Image: "img", Deadline: time.Minute}
	j, err := jobFor(x, "batch", PodDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Annotations[AnnotationScheduledTime]; got != "2026-11-23T08:00:00Z" {
		t.Errorf("slot annotation %q", got)
	}
	x.Run.ScheduledTime = nil
	if j, _ := jobFor(x, "batch", PodDefaults{}); len(j.Annotations) != 0 {
		t.Errorf("an on-demand run's Job has annotations %v", j.Annotations)
	}
}

// TestLogsFromKWOK reads a pod's output through the real API server's pods/log, which the
// test control plane's KWOK serves from a file for the pods a ClusterLogs names.
func TestLogsFromKWOK(t *testing.T) {
	t.Parallel()
	f := setup(t, Options{LogSettle: time.Second})
	kubetest.ServeLogs(t, f.ns, "loading 1200 rows", "3 rows skipped")
	x := f.start(time.Minute, "100m", nil)
	if u := f.rec.Finish(t, 30*time.Second); u.State != job.StateSucceeded {
		t.Fatalf("final update %+v", u)
	}
	if got, want := f.rec.Log(x.Run.ID), "loading 1200 rows\n3 rows skipped\n"; got != want {
		t.Errorf("run log %q, want %q", got, want)
	}
	if reasons := strings.Join(f.rec.Reasons(x.Run.ID), " "); strings.Contains(reasons, "LogsUnavailable") {
		t.Errorf("logs reported unavailable: %s", reasons)
	}
}

// TestGPU: a definition's gpu is the container's nvidia.com/gpu limit, and is refused at
// admission when no node has that many allocatable (the test cluster's KWOK nodes have
// none).
func TestGPU(t *testing.T) {
	t.Parallel()
	x := job.Execution{Run: job.Run{ID: "r1", Job: "train", Attempt: 1}, Image: "img", CPU: "1", Memory: "1Gi", GPU: 2, Deadline: time.Minute}
	j, err := jobFor(x, "batch", PodDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	c := j.Spec.Template.Spec.Containers[0]
	if got := c.Resources.Limits[ResourceGPU]; got.Value() != 2 {
		t.Errorf("nvidia.com/gpu limit %s; want 2", got.String())
	}
	x.GPU = 0
	if j, _ := jobFor(x, "batch", PodDefaults{}); len(j.Spec.Template.Spec.Containers[0].Resources.Limits) != 1 {
		t.Errorf("a Job without GPUs has limits %v", j.Spec.Template.Spec.Containers[0].Resources.Limits)
	}
	f := setup(t, Options{})
	err = f.e.Admit(context.Background(), job.Spec{CPU: "1", Memory: "1Gi", GPU: 1})
	var fe *job.FieldError
	if !errors.As(err, &fe) || fe.Field != "gpu" || !strings.Contains(err.Error(), "no node has that many allocatable") {
		t.Errorf("Admit with a GPU on nodes without any: %v", err)
	}
}
