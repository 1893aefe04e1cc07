package kube

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"docket.dev/docket/internal/job"
)

// jobFor builds the Job for an execution. Docket retries a failed attempt as a new run (and
// a new Job), so each attempt keeps its own record, log and exit code, as with the other
// executors: the Job itself never retries (backoffLimit 0). The definition's command
// replaces the image's entrypoint; cpu and memory are requests, and memory is the limit.
func jobFor(x job.Execution, namespace string, pod PodDefaults) (*batchv1.Job, error) {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	if x.CPU != "" {
		q, err := resource.ParseQuantity(x.CPU)
		if err != nil {
			return nil, fmt.Errorf("cpu %q: %w", x.CPU, err)
		}
		requests[corev1.ResourceCPU] = q
	}
	if x.Memory != "" {
		q, err := resource.ParseQuantity(x.Memory)
		if err != nil {
			return nil, fmt.Errorf("memory %q: %w", x.Memory, err)
		}
		requests[corev1.ResourceMemory], limits[corev1.ResourceMemory] = q, q
	}
	ours := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelJob:       x.Run.Job,
		LabelRun:       x.Run.ID,
		LabelAttempt:   strconv.Itoa(x.Run.Attempt),
	}
	podLabels := maps.Clone(x.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, ours)
	var env []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(x.Env)) {
		env = append(env, corev1.EnvVar{Name: k, Value: x.Env[k]})
	}
	deadline := int64(x.Deadline.Seconds())
	if deadline < 1 {
		deadline = 1
	}
	backoff := int32(0)
	automount := false
	var annotations map[string]string
	if x.Run.ScheduledTime != nil {
		annotations = map[string]string{AnnotationScheduledTime: x.Run.ScheduledTime.UTC().Format(time.RFC3339)}
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: Name(x.Run.ID), Namespace: namespace, Labels: ours, Annotations: annotations},
		Spec: batchv1.JobSpec{
			BackoffLimit:          &backoff,
			ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: maps.Clone(x.Annotations)},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					NodeSelector:                 maps.Clone(pod.NodeSelector),
					Tolerations:                  slices.Clone(pod.Tolerations),
					ServiceAccountName:           pod.ServiceAccountName,
					PriorityClassName:            pod.PriorityClassName,
					AutomountServiceAccountToken: &automount,
					Containers: []corev1.Container{{
						Name:      "job",
						Image:     x.Image,
						Command:   slices.Clone(x.Command),
						Env:       env,
						Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits},
					}},
				},
			},
		},
	}, nil
}

// ParseToleration reads a toleration as kubectl taint writes a taint: KEY=VALUE:EFFECT
// (Equal), KEY:EFFECT (Exists), KEY=VALUE or KEY (any effect). EFFECT is NoSchedule,
// PreferNoSchedule or NoExecute.
func ParseToleration(s string) (corev1.Toleration, error) {
	var t corev1.Toleration
	rest, effect, hasEffect := strings.Cut(s, ":")
	if hasEffect {
		switch e := corev1.TaintEffect(effect); e {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			t.Effect = e
		default:
			return t, fmt.Errorf("toleration %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", s, effect)
		}
	}
	key, value, hasValue := strings.Cut(rest, "=")
	if errs := validation.IsQualifiedName(key); len(errs) > 0 {
		return t, fmt.Errorf("toleration %q: key %q: %s", s, key, strings.Join(errs, "; "))
	}
	t.Key, t.Operator = key, corev1.TolerationOpExists
	if hasValue {
		t.Operator, t.Value = corev1.TolerationOpEqual, value
	}
	return t, nil
}
