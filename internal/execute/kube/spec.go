package kube

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// jobFor builds the Job for an execution. Docket retries a failed attempt as a new run (and
// a new Job), so each attempt keeps its own record, log and exit code, as with the other
// executors: the Job itself never retries (backoffLimit 0), except for a pod the cluster
// stopped (preempted, evicted, its node drained): that is not the job's failure, and a
// podFailurePolicy has the Job start another pod in its place. The definition's command
// replaces the image's entrypoint; cpu and memory are requests, and memory is the limit.
func jobFor(x job.Execution, namespace string, defaults PodDefaults) (*batchv1.Job, error) {
	ours := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelJob:       x.Run.Job,
		LabelRun:       x.Run.ID,
		LabelAttempt:   strconv.Itoa(x.Run.Attempt),
	}
	pod, resources, podLabels, err := podParts(x, defaults, ours)
	if err != nil {
		return nil, err
	}
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
	spec := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: Name(x.Run.ID), Namespace: namespace, Labels: ours, Annotations: annotations},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff,
			PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
				Action:          batchv1.PodFailurePolicyActionIgnore,
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
			}}},
			ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: maps.Clone(x.Annotations)},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					NodeSelector:                 pod.NodeSelector,
					Tolerations:                  pod.Tolerations,
					ServiceAccountName:           pod.ServiceAccountName,
					PriorityClassName:            pod.PriorityClassName,
					AutomountServiceAccountToken: &automount,
					Containers: []corev1.Container{{
						Name:      "job",
						Image:     x.Image,
						Command:   slices.Clone(x.Command),
						Env:       env,
						Resources: resources,
					}},
				},
			},
		},
	}
	if len(x.Inputs) > 0 {
		withInputs(&spec.Spec.Template.Spec, x, pod.HelperImage)
	}
	return spec, nil
}

// podParts returns what every pod Docket makes for x has: its placement (defaults with
// the definition's kubernetes block), its container's resources, and its labels (the
// definition's, under Docket's own ours).
func podParts(x job.Execution, defaults PodDefaults, ours map[string]string) (PodDefaults, corev1.ResourceRequirements, map[string]string, error) {
	pod, err := defaults.With(x.Kubernetes)
	if err != nil {
		return pod, corev1.ResourceRequirements{}, nil, err
	}
	resources, err := resourcesFor(x)
	if err != nil {
		return pod, resources, nil, err
	}
	podLabels := maps.Clone(x.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, ours)
	return pod, resources, podLabels, nil
}

// resourcesFor returns a run's container resources: cpu and memory are requests, memory
// is the limit, and GPUs are limits (their request is their limit).
func resourcesFor(x job.Execution) (corev1.ResourceRequirements, error) {
	requests := corev1.ResourceList{}
	limits := corev1.ResourceList{}
	if x.CPU != "" {
		q, err := resource.ParseQuantity(x.CPU)
		if err != nil {
			return corev1.ResourceRequirements{}, fmt.Errorf("cpu %q: %w", x.CPU, err)
		}
		requests[corev1.ResourceCPU] = q
	}
	if x.Memory != "" {
		q, err := resource.ParseQuantity(x.Memory)
		if err != nil {
			return corev1.ResourceRequirements{}, fmt.Errorf("memory %q: %w", x.Memory, err)
		}
		requests[corev1.ResourceMemory], limits[corev1.ResourceMemory] = q, q
	}
	if x.GPU > 0 {
		limits[ResourceGPU] = *resource.NewQuantity(int64(x.GPU), resource.DecimalSI)
	}
	return corev1.ResourceRequirements{Requests: requests, Limits: limits}, nil
}

// InputsDir is where a pod's input files are, in an emptyDir, and its working directory
// when it has any ($DOCKET_INPUTS).
const InputsDir = "/docket/inputs"

// withInputs adds an init container running Docket's own image that fetches the run's
// input files with the run's token (docket inputs fetch) into an emptyDir, mounted where
// the job's container then starts.
func withInputs(pod *corev1.PodSpec, x job.Execution, helper string) {
	mount := []corev1.VolumeMount{{Name: "inputs", MountPath: InputsDir}}
	pod.Volumes = append(pod.Volumes, corev1.Volume{Name: "inputs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	var env []corev1.EnvVar
	for _, k := range []string{"DOCKET_API", "DOCKET_TOKEN", "DOCKET_RUN_ID"} {
		env = append(env, corev1.EnvVar{Name: k, Value: x.Env[k]})
	}
	pod.InitContainers = append(pod.InitContainers, corev1.Container{
		Name: "inputs", Image: helper, Command: []string{"/docket", "inputs", "fetch", "--dir", InputsDir},
		Env: env, VolumeMounts: mount,
	})
	c := &pod.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, mount...)
	c.WorkingDir = InputsDir
	c.Env = append(c.Env, corev1.EnvVar{Name: "DOCKET_INPUTS", Value: InputsDir})
}

// With returns the placement of a pod whose definition has the kubernetes block k: its
// node selector added to the server's (its value wins for a key both set), its
// tolerations after the server's, its service account and priority class in place of the
// server's. The result shares nothing with d.
func (d PodDefaults) With(k *job.Kubernetes) (PodDefaults, error) {
	p := PodDefaults{
		NodeSelector:       maps.Clone(d.NodeSelector),
		Tolerations:        slices.Clone(d.Tolerations),
		ServiceAccountName: d.ServiceAccountName,
		PriorityClassName:  d.PriorityClassName,
		HelperImage:        d.HelperImage,
	}
	if k == nil {
		return p, nil
	}
	if len(k.NodeSelector) > 0 {
		if p.NodeSelector == nil {
			p.NodeSelector = map[string]string{}
		}
		maps.Copy(p.NodeSelector, k.NodeSelector)
	}
	for i, raw := range k.Tolerations {
		t, err := definition.ParseToleration(raw)
		if err != nil {
			return p, job.Invalid(fmt.Sprintf("kubernetes.tolerations[%d]", i), "%s", err)
		}
		p.Tolerations = append(p.Tolerations, t)
	}
	if k.ServiceAccount != "" {
		p.ServiceAccountName = k.ServiceAccount
	}
	if k.PriorityClass != "" {
		p.PriorityClassName = k.PriorityClass
	}
	return p, nil
}
