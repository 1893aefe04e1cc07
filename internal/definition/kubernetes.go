package definition

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"docket.dev/docket/internal/job"
)

// checkKubernetes checks the kubernetes block: names Kubernetes accepts, label selectors
// that can match, tolerations in kubectl's taint syntax.
func checkKubernetes(s job.Spec, _ Limits) error {
	k := s.Kubernetes
	if k == nil {
		return nil
	}
	if k.Namespace != "" {
		if errs := validation.IsDNS1123Label(k.Namespace); len(errs) > 0 {
			return job.Invalid("kubernetes.namespace", "%q is not a namespace name: %s", k.Namespace, errs[0])
		}
	}
	for _, key := range slices.Sorted(maps.Keys(k.NodeSelector)) {
		f := "kubernetes.node_selector." + key
		if errs := validation.IsQualifiedName(key); len(errs) > 0 {
			return job.Invalid(f, "%q is not a Kubernetes label key: %s", key, errs[0])
		}
		if errs := validation.IsValidLabelValue(k.NodeSelector[key]); len(errs) > 0 {
			return job.Invalid(f, "%q is not a Kubernetes label value: %s", k.NodeSelector[key], errs[0])
		}
	}
	for i, t := range k.Tolerations {
		if _, err := ParseToleration(t); err != nil {
			return job.Invalid(fmt.Sprintf("kubernetes.tolerations[%d]", i), "%s", err)
		}
	}
	for _, n := range []struct{ field, value string }{
		{"kubernetes.service_account", k.ServiceAccount}, {"kubernetes.priority_class", k.PriorityClass},
	} {
		if n.value == "" {
			continue
		}
		if errs := validation.IsDNS1123Subdomain(n.value); len(errs) > 0 {
			return job.Invalid(n.field, "%q is not a Kubernetes object name: %s", n.value, errs[0])
		}
	}
	return nil
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
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			return t, fmt.Errorf("toleration %q: value %q: %s", s, value, strings.Join(errs, "; "))
		}
		t.Operator, t.Value = corev1.TolerationOpEqual, value
	}
	return t, nil
}
