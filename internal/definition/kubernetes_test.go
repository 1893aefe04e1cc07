package definition

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestParseToleration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]corev1.Toleration{
		"pool=batch:NoSchedule": {Key: "pool", Operator: corev1.TolerationOpEqual, Value: "batch", Effect: corev1.TaintEffectNoSchedule},
		"gpu:NoExecute":         {Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		"example.com/spot=true": {Key: "example.com/spot", Operator: corev1.TolerationOpEqual, Value: "true"},
		"dedicated":             {Key: "dedicated", Operator: corev1.TolerationOpExists},
	} {
		got, err := ParseToleration(in)
		if err != nil || got != want {
			t.Errorf("ParseToleration(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"pool=batch:Never": `effect "Never" is not NoSchedule`,
		"=batch":           `key ""`,
		"bad key=x":        `key "bad key"`,
	} {
		if _, err := ParseToleration(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseToleration(%q) = %v, want an error with %q", in, err, msg)
		}
	}
}
