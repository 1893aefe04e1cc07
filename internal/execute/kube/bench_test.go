package kube

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// stampedReporter records when each run's final update arrived.
type stampedReporter struct {
	mu    sync.Mutex
	ended map[string]time.Time
}

func (r *stampedReporter) Report(_ context.Context, u job.Update) error {
	if u.State.Terminal() {
		r.mu.Lock()
		r.ended[u.RunID] = time.Now()
		r.mu.Unlock()
	}
	return nil
}

func (r *stampedReporter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ended)
}

func benchExecution(n int) []job.Execution {
	xs := make([]job.Execution, n)
	for i := range xs {
		id := job.NewRunID(time.Now())
		xs[i] = job.Execution{Run: job.Run{ID: id, Job: "bench", Attempt: 1}, Image: "registry.example.com/bench:1",
			Command: []string{"true"}, CPU: "10m", Memory: "16Mi", Deadline: 10 * time.Minute,
			Env: map[string]string{"DOCKET_RUN_ID": id}}
	}
	return xs
}

// BenchmarkDispatch creates b.N Jobs on the test control plane three ways: with a plain
// client-go loop (one create after another), with eight such loops at once, and through the
// executor (Start per run, as the dispatcher calls it; each run creates its Job in its own
// goroutine), and reports the rates and Docket's ratio to each. All use the same client
// settings (200 QPS, burst 400) and the same Job spec.
//
//	go test -run '^$' -bench BenchmarkDispatch -benchtime 300x ./internal/execute/kube
func BenchmarkDispatch(b *testing.B) {
	client := kubetest.Client(b)
	ctx := context.Background()
	n := b.N

	plainNS := kubetest.Namespace(b, client)
	b.ResetTimer()
	start := time.Now()
	for _, x := range benchExecution(n) {
		j, err := jobFor(x, plainNS, PodDefaults{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := client.BatchV1().Jobs(plainNS).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	plain := time.Since(start)

	// The same with eight creates in flight, as a tuned client would.
	parallelNS := kubetest.Namespace(b, client)
	xs8 := benchExecution(n)
	next := make(chan job.Execution)
	var wg sync.WaitGroup
	start = time.Now()
	for range 8 {
		wg.Go(func() {
			for x := range next {
				j, err := jobFor(x, parallelNS, PodDefaults{})
				if err == nil {
					_, err = client.BatchV1().Jobs(parallelNS).Create(ctx, j, metav1.CreateOptions{})
				}
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, x := range xs8 {
		next <- x
	}
	close(next)
	wg.Wait()
	parallel := time.Since(start)

	docketNS := kubetest.Namespace(b, client)
	rep := &stampedReporter{ended: map[string]time.Time{}}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	e, err := New(runCtx, Options{Client: client, Namespace: docketNS, Reporter: rep})
	if err != nil {
		b.Fatal(err)
	}
	xs := benchExecution(n)
	start = time.Now()
	for _, x := range xs {
		if err := e.Start(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	for {
		list, err := client.BatchV1().Jobs(docketNS).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			b.Fatal(err)
		}
		if len(list.Items) >= n {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	docket := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/plain.Seconds(), "plain-jobs/s")
	b.ReportMetric(float64(n)/docket.Seconds(), "docket-jobs/s")
	b.ReportMetric(float64(n)/parallel.Seconds(), "plain8-jobs/s")
	b.ReportMetric(plain.Seconds()/docket.Seconds(), "docket/plain")
	b.ReportMetric(parallel.Seconds()/docket.Seconds(), "docket/plain8")
}

// BenchmarkStatusLatency runs b.N one-second Jobs through the executor and measures, per
// run, the time from its pod turning Succeeded (as a watch of its own sees it) to the
// run's end reaching the recorder: the Job controller's update, the informers and
// Docket's follower together.
//
//	go test -run '^$' -bench BenchmarkStatusLatency -benchtime 200x ./internal/execute/kube
func BenchmarkStatusLatency(b *testing.B) {
	client := kubetest.Client(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := kubetest.Namespace(b, client)
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	podEnded := map[string]time.Time{}
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified {
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Status.Phase != corev1.PodSucceeded {
				continue
			}
			mu.Lock()
			if _, seen := podEnded[p.Labels[LabelRun]]; !seen {
				podEnded[p.Labels[LabelRun]] = time.Now()
			}
			mu.Unlock()
		}
	}()
	rep := &stampedReporter{ended: map[string]time.Time{}}
	e, err := New(ctx, Options{Client: client, Namespace: ns, Reporter: rep})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for _, x := range benchExecution(b.N) {
		if err := e.Start(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Minute); rep.count() < b.N; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d runs ended", rep.count(), b.N)
		}
	}
	b.StopTimer()
	var lat []time.Duration
	mu.Lock()
	rep.mu.Lock()
	for id, end := range rep.ended {
		if p, ok := podEnded[id]; ok {
			lat = append(lat, end.Sub(p))
		}
	}
	rep.mu.Unlock()
	mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no pod end was seen")
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(len(lat)), "runs-measured")
}

// BenchmarkArrayJob runs an array of b.N tasks, all at once (parallelism b.N), two ways on
// the test control plane, and reports the time from the first call to every one of the
// array's pods created: a plain client-go create of the array's Indexed Job, and Docket's
// executor starting each task as the dispatcher does (the first creates the Job; the others
// find it and follow their index). Both count one Job.
//
//	go test -run '^$' -bench BenchmarkArrayJob -benchtime 10000x -timeout 30m ./internal/execute/kube
func BenchmarkArrayJob(b *testing.B) {
	client := kubetest.Client(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := b.N
	helper := PodDefaults{HelperImage: "registry.example.com/docket:bench"}
	tasks := func() []job.Execution {
		a := &job.TaskArray{RunID: job.NewRunID(time.Now()), Size: n, Parallelism: n,
			Env: map[string]string{"DOCKET_API": "http://docket.example:8080", "DOCKET_TOKEN": "docket-run.bench"}}
		xs := make([]job.Execution, n)
		for i := range xs {
			index := i
			id := job.NewRunID(time.Now())
			xs[i] = job.Execution{Run: job.Run{ID: id, Job: "bench", Attempt: 1, Parent: a.RunID, TaskIndex: &index},
				Image: "registry.example.com/bench:1", Command: []string{"true"}, CPU: "10m", Memory: "16Mi",
				Deadline: 10 * time.Minute, Env: map[string]string{"DOCKET_RUN_ID": id}, Array: a,
				Annotations: map[string]string{"kwok.docket.dev/run-for": "10m"}} // the pods stay: all n exist at once
		}
		return xs
	}
	// podsCreated waits until n pods exist in ns, reading the API server's cache.
	podsCreated := func(ns string) {
		for deadline := time.Now().Add(20 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				b.Fatal(err)
			}
			if len(list.Items) >= n {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d pods in %s", len(list.Items), n, ns)
			}
		}
	}
	jobs := func(ns string) int {
		list, err := client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return len(list.Items)
	}
	b.ResetTimer()

	plainNS := kubetest.Namespace(b, client)
	start := time.Now()
	j, err := arrayJobFor(tasks()[0], plainNS, helper, 0)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := client.BatchV1().Jobs(plainNS).Create(ctx, j, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	podsCreated(plainNS)
	plain := time.Since(start)
	// The plain Job's pods are deleted before Docket's run, so both face the same cluster.
	policy := metav1.DeletePropagationBackground
	if err := client.BatchV1().Jobs(plainNS).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		b.Fatal(err)
	}

	docketNS := kubetest.Namespace(b, client)
	e, err := New(ctx, Options{Client: client, Namespace: docketNS, Reporter: &stampedReporter{ended: map[string]time.Time{}}, Pod: helper})
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	for _, x := range tasks() {
		if err := e.Start(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	podsCreated(docketNS)
	docket := time.Since(start)
	b.StopTimer()
	if got := jobs(docketNS); got != 1 {
		b.Fatalf("Docket made %d Jobs for one array", got)
	}
	b.ReportMetric(plain.Seconds(), "plain-s")
	b.ReportMetric(docket.Seconds(), "docket-s")
	b.ReportMetric(docket.Seconds()/plain.Seconds(), "docket/plain")
}
