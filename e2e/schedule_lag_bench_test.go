package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"docket.dev/docket/internal/execute/kube"
	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// BenchmarkScheduleLag fires DOCKET_BENCH_SCHEDULES (1,000) schedules twice on the same
// control plane at the same minute: as Docket definitions on a server with the Kubernetes
// executor, and as native CronJobs. For each, the lag is from the slot (the minute) to the
// slot's Job's creation; it reports p50 and p99 of each. First, while the control plane is
// idle, a plain client-go loop creates the same number of Jobs with the same pod
// (rawInFlight creates at a time, no client-side rate limit; suspended, so no pod of theirs
// loads the control plane afterwards): the time it takes is what the control plane can
// take, and Docket's p99 is also reported as a ratio to it. The schedules fire at one
// minute only, a minute or two ahead, so that slot is the first of each and nothing of an
// earlier one loads the control plane or holds a run back (concurrency forbid). Start the
// control plane with room for the pods, e.g. NODE_PODS=1100 scripts/kube start DIR.
//
//	go test -run '^$' -bench BenchmarkScheduleLag -benchtime 1x -timeout 30m ./e2e
func BenchmarkScheduleLag(b *testing.B) {
	client := kubetest.Client(b)
	n := benchSize(b, "DOCKET_BENCH_SCHEDULES", 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	docketNS, cronNS := kubetest.Namespace(b, client), kubetest.Namespace(b, client)
	raw := rawCreates(ctx, b, n)

	// The slot leaves a minute at least for the setup below.
	slot := time.Now().Add(time.Minute).Truncate(time.Minute).Add(time.Minute).UTC()
	schedule := fmt.Sprintf("%d %d * * *", slot.Minute(), slot.Hour())

	// Docket: n definitions on a server with the Kubernetes executor.
	dir := b.TempDir()
	var defs strings.Builder
	for i := range n {
		fmt.Fprintf(&defs, "name: tick-%04d\nimage: registry.example.com/tick:1\ncommand: [\"true\"]\ncpu: 1m\nmemory: 1Mi\nschedule: %q\ncatchup: none\n---\n", i, schedule)
	}
	file := writeFile(b, dir, "ticks.yaml", defs.String())
	srv := startServer(b, dir+"/data", "--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"),
		"--namespace", docketNS, "--check-images=false", "--schedule-interval", "1s")
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
		b.Fatalf("apply: %s", stderr)
	}

	// Native: n CronJobs with the same pod.
	utc := "Etc/UTC"
	for i := range n {
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tick-%04d", i)},
			Spec: batchv1.CronJobSpec{
				Schedule: schedule, TimeZone: &utc, ConcurrencyPolicy: batchv1.ForbidConcurrent,
				JobTemplate: batchv1.JobTemplateSpec{Spec: tickJob()},
			},
		}
		if _, err := client.BatchV1().CronJobs(cronNS).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if time.Now().After(slot.Add(-5 * time.Second)) {
		b.Fatalf("the setup ran until %s, too close to the slot at %s", time.Now().Format(time.TimeOnly), slot.Format(time.TimeOnly))
	}
	b.Logf("%d schedules each; measuring the slot at %s", n, slot.Format(time.TimeOnly))
	// A Job's lag is its creation (to the second, as the API server stamps it) less its
	// slot, which Docket and the CronJob controller each write on the Job.
	lags := func(ns, annotation string) []time.Duration {
		list, err := client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var out []time.Duration
		for _, j := range list.Items {
			if t, err := time.Parse(time.RFC3339, j.Annotations[annotation]); err == nil && t.Equal(slot) {
				out = append(out, j.CreationTimestamp.Sub(slot))
			}
		}
		return out
	}
	var docket, cron []time.Duration
	for deadline := slot.Add(5 * time.Minute); ; time.Sleep(2 * time.Second) {
		if time.Now().Before(slot) {
			continue
		}
		docket, cron = lags(docketNS, kube.AnnotationScheduledTime), lags(cronNS, "batch.kubernetes.io/cronjob-scheduled-timestamp")
		if len(docket) >= n && len(cron) >= n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("by %s: %d Docket Jobs and %d CronJob Jobs of %d for the slot", deadline.Format(time.TimeOnly), len(docket), len(cron), n)
		}
	}
	for name, l := range map[string][]time.Duration{"docket": docket, "cronjob": cron} {
		slices.Sort(l)
		b.ReportMetric(l[len(l)/2].Seconds(), name+"-p50-s")
		b.ReportMetric(l[len(l)*99/100].Seconds(), name+"-p99-s")
	}
	// Where Docket's lag goes: each run's slot recorded (queued), then marked pending just
	// before its Job is created, as its events say.
	var recorded, pending []time.Duration
	for _, r := range srv.allRuns("") {
		for _, ev := range srv.events(r.ID) {
			switch {
			case ev.State == job.StateQueued && ev.Reason == "Scheduled":
				recorded = append(recorded, ev.Time.Sub(slot))
			case ev.State == job.StatePending && ev.Reason == "Starting":
				pending = append(pending, ev.Time.Sub(slot))
			}
		}
	}
	for name, l := range map[string][]time.Duration{"docket-recorded": recorded, "docket-pending": pending} {
		slices.Sort(l)
		if len(l) > 0 {
			b.ReportMetric(l[len(l)*99/100].Seconds(), name+"-p99-s")
		}
	}
	b.ReportMetric(raw.Seconds(), "raw-creates-s")
	b.ReportMetric(docket[len(docket)*99/100].Seconds()/raw.Seconds(), "docket-p99/raw")
}

// rawInFlight is how many creates the plain client-go loop has in flight: the fastest of
// 4 to 64 on the test control plane.
const rawInFlight = 32

// rawCreates creates n Jobs of tickJob's spec, suspended, in a namespace of their own with a
// plain client-go loop, rawInFlight at a time and no client-side rate limit, and returns how
// long the n creates took.
func rawCreates(ctx context.Context, b *testing.B, n int) time.Duration {
	cfg := kubetest.Config(b)
	cfg.QPS = -1 // no client-side limit: as fast as the control plane takes them
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ns := kubetest.Namespace(b, client)
	suspend := true
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(rawInFlight)
	for i := range n {
		g.Go(func() error {
			j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tick-%04d", i)}, Spec: tickJob()}
			j.Spec.Suspend = &suspend
			_, err := client.BatchV1().Jobs(ns).Create(gctx, j, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.Logf("a plain client-go loop (%d in flight) created %d Jobs in %v", rawInFlight, n, took.Round(time.Millisecond))
	return took
}

// tickJob is the spec of every Job the benchmark makes besides Docket's: the pod of the
// tick definitions.
func tickJob() batchv1.JobSpec {
	return batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "job", Image: "registry.example.com/tick:1", Command: []string{"true"},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("1Mi")}}}},
	}}}
}
