package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/execute/kube"
	"docket.dev/docket/internal/execute/kube/kubetest"
)

// BenchmarkScheduleLag fires DOCKET_BENCH_SCHEDULES (1,000) every-minute schedules twice
// on the same control plane at the same minute: as Docket definitions on a server with the
// Kubernetes executor, and as native CronJobs. For each, the lag is from the slot (the
// minute) to the slot's Job's creation; it reports p50 and p99 of each. Start the control plane with room for the pods, e.g.
// NODE_PODS=1100 scripts/kube start DIR.
//
//	go test -run '^$' -bench BenchmarkScheduleLag -benchtime 1x -timeout 30m ./e2e
func BenchmarkScheduleLag(b *testing.B) {
	client := kubetest.Client(b)
	n := benchSize(b, "DOCKET_BENCH_SCHEDULES", 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	docketNS, cronNS := kubetest.Namespace(b, client), kubetest.Namespace(b, client)

	// Docket: n definitions on a server with the Kubernetes executor.
	dir := b.TempDir()
	var defs strings.Builder
	for i := range n {
		fmt.Fprintf(&defs, "name: tick-%04d\nimage: registry.example.com/tick:1\ncommand: [\"true\"]\ncpu: 1m\nmemory: 1Mi\nschedule: \"* * * * *\"\ncatchup: none\n---\n", i)
	}
	file := writeFile(b, dir, "ticks.yaml", defs.String())
	srv := startServer(b, dir+"/data", "--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"),
		"--namespace", docketNS, "--check-images=false", "--schedule-interval", "1s")
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
		b.Fatalf("apply: %s", stderr)
	}

	// Native: n CronJobs with the same pod.
	for i := range n {
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tick-%04d", i)},
			Spec: batchv1.CronJobSpec{
				Schedule: "* * * * *", ConcurrencyPolicy: batchv1.ForbidConcurrent,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "job", Image: "registry.example.com/tick:1", Command: []string{"true"},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("1Mi")}}}},
				}}}},
			},
		}
		if _, err := client.BatchV1().CronJobs(cronNS).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}

	// The first minute both have fully, with a margin so that no Job of it is created
	// before the measuring starts.
	slot := time.Now().Add(30 * time.Second).Truncate(time.Minute).Add(time.Minute)
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
}
