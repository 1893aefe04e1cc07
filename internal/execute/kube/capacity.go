package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"docket.dev/docket/internal/job"
)

// Admit says whether the executor can run a job with this spec, as a field error (the API
// answers 400) when it cannot: its namespace is not one the server runs Jobs in, its
// requests fit no node, or the service account or priority class it names does not exist.
// A namespace the job's team may not use (Options.TeamNamespaces) is refused too.
func (e *Executor) Admit(ctx context.Context, spec job.Spec) error {
	sp, err := e.spaceFor(spec.Kubernetes, spec.Labels)
	if err != nil {
		return err
	}
	pod, err := e.opts.Pod.With(spec.Kubernetes)
	if err != nil {
		return err
	}
	if err := e.fits(spec.CPU, spec.Memory, pod.NodeSelector); err != nil {
		return err
	}
	if err := e.fitsGPU(spec.GPU, pod.NodeSelector); err != nil {
		return err
	}
	if spec.Kubernetes == nil {
		return nil
	}
	return e.exists(ctx, sp.name, spec.Kubernetes)
}

// exists checks that the service account and priority class a definition names exist. An
// answer other than not found (Docket may not read them) lets the definition pass: the
// pod's creation would then say.
func (e *Executor) exists(ctx context.Context, ns string, k *job.Kubernetes) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if k.ServiceAccount != "" {
		_, err := e.opts.Client.CoreV1().ServiceAccounts(ns).Get(ctx, k.ServiceAccount, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return job.Invalid("kubernetes.service_account", "no ServiceAccount %q in namespace %s", k.ServiceAccount, ns)
		}
	}
	if k.PriorityClass != "" {
		_, err := e.opts.Client.SchedulingV1().PriorityClasses().Get(ctx, k.PriorityClass, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return job.Invalid("kubernetes.priority_class", "no PriorityClass %q in the cluster", k.PriorityClass)
		}
	}
	return nil
}

// fits says whether some node could take a pod with these requests: a node that matches
// the node selector, is not cordoned, and has that much cpu and memory allocatable. When
// none could, the error names the request and the largest node's allocatable. With no
// nodes known (a cluster that scales from zero, or nodes Docket may not list) every
// request passes.
func (e *Executor) fits(cpu, memory string, selector map[string]string) error {
	if e.nodes == nil {
		return nil
	}
	nodes, err := e.nodes.List(labels.SelectorFromSet(selector))
	if err != nil || len(nodes) == 0 {
		return nil
	}
	var wantCPU, wantMem resource.Quantity
	if cpu != "" {
		if wantCPU, err = resource.ParseQuantity(cpu); err != nil {
			return job.Invalid("cpu", "%q is not a quantity", cpu)
		}
	}
	if memory != "" {
		if wantMem, err = resource.ParseQuantity(memory); err != nil {
			return job.Invalid("memory", "%q is not a quantity", memory)
		}
	}
	var largest *corev1.Node
	cpuFits, memFits := false, false
	for _, n := range nodes {
		if n.Spec.Unschedulable {
			continue
		}
		c, m := n.Status.Allocatable[corev1.ResourceCPU], n.Status.Allocatable[corev1.ResourceMemory]
		okCPU, okMem := c.Cmp(wantCPU) >= 0, m.Cmp(wantMem) >= 0
		if okCPU && okMem {
			return nil
		}
		cpuFits, memFits = cpuFits || okCPU, memFits || okMem
		if largest == nil || bigger(n, largest) {
			largest = n
		}
	}
	if largest == nil {
		return nil
	}
	c, m := largest.Status.Allocatable[corev1.ResourceCPU], largest.Status.Allocatable[corev1.ResourceMemory]
	field := "cpu"
	if cpuFits && !memFits {
		field = "memory"
	}
	where := ""
	if len(selector) > 0 {
		where = fmt.Sprintf(" matching %s", labels.SelectorFromSet(selector))
	}
	return job.Invalid(field, "requests cpu %s and memory %s, but no node%s has that much allocatable; the largest (%s) has cpu %s and memory %s",
		orNone(cpu), orNone(memory), where, largest.Name, c.String(), m.String())
}

// bigger orders nodes by allocatable cpu, then memory.
func bigger(a, b *corev1.Node) bool {
	ac, bc := a.Status.Allocatable[corev1.ResourceCPU], b.Status.Allocatable[corev1.ResourceCPU]
	if d := ac.Cmp(bc); d != 0 {
		return d > 0
	}
	am, bm := a.Status.Allocatable[corev1.ResourceMemory], b.Status.Allocatable[corev1.ResourceMemory]
	return am.Cmp(bm) > 0
}

func orNone(q string) string {
	if q == "" {
		return "none"
	}
	return q
}

// ResourceGPU is the extended resource a definition's gpu asks for (NVIDIA's device
// plugin).
const ResourceGPU corev1.ResourceName = "nvidia.com/gpu"

// fitsGPU says whether some schedulable node that matches the selector has gpu GPUs
// allocatable; with no nodes known every request passes, as in fits.
func (e *Executor) fitsGPU(gpu int, selector map[string]string) error {
	if gpu == 0 || e.nodes == nil {
		return nil
	}
	nodes, err := e.nodes.List(labels.SelectorFromSet(selector))
	if err != nil || len(nodes) == 0 {
		return nil
	}
	most := int64(0)
	for _, n := range nodes {
		if n.Spec.Unschedulable {
			continue
		}
		q := n.Status.Allocatable[ResourceGPU]
		most = max(most, q.Value())
	}
	if most >= int64(gpu) {
		return nil
	}
	return job.Invalid("gpu", "asks for %d %s, but no node has that many allocatable (the most any has is %d)", gpu, ResourceGPU, most)
}
