package kube

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"docket.dev/docket/internal/job"
)

// Fits says whether some node could take a pod with these requests: a node that matches
// the pods' node selector, is not cordoned, and has that much cpu and memory allocatable.
// When none could, the error names the request and the largest node's allocatable, as a
// field error (the API answers 400). With no nodes known (a cluster that scales from
// zero, or nodes Docket may not list) every request passes.
func (e *Executor) Fits(cpu, memory string) error {
	if e.nodes == nil {
		return nil
	}
	nodes, err := e.nodes.List(labels.SelectorFromSet(e.opts.Pod.NodeSelector))
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
	if len(e.opts.Pod.NodeSelector) > 0 {
		where = fmt.Sprintf(" matching %s", labels.SelectorFromSet(e.opts.Pod.NodeSelector))
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
