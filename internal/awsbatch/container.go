package awsbatch

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// The container's resources, env and retry rules, as AWS writes them and as Docket keeps
// them.

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type resourceRequirement struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// exitRule is one of evaluateOnExit's entries: a Docket retry rule.
type exitRule struct {
	OnStatusReason string `json:"onStatusReason,omitempty"`
	OnReason       string `json:"onReason,omitempty"`
	OnExitCode     string `json:"onExitCode,omitempty"`
	Action         string `json:"action"`
}

// retryRules turns evaluateOnExit into Docket's retry rules (onStatusReason matches the
// failure's sentence, onReason its reason, onExitCode its exit code).
func retryRules(field string, in []exitRule) ([]job.RetryRule, error) {
	if in == nil {
		return nil, nil
	}
	out := make([]job.RetryRule, 0, len(in))
	for _, r := range in {
		out = append(out, job.RetryRule{ExitCode: r.OnExitCode, Reason: r.OnReason, Message: r.OnStatusReason, Action: job.RetryAction(strings.ToLower(r.Action))})
	}
	if err := definition.ValidateRetryOn(field, out); err != nil {
		return nil, clientErr("%v", err)
	}
	return out, nil
}

// exitRules are retry rules as evaluateOnExit entries.
func exitRules(rules []job.RetryRule) []exitRule {
	out := make([]exitRule, 0, len(rules))
	for _, r := range rules {
		out = append(out, exitRule{OnStatusReason: r.Message, OnReason: r.Reason, OnExitCode: r.ExitCode, Action: strings.ToUpper(string(r.Action))})
	}
	return out
}

// resources turns AWS's vcpus, memory (MiB) and resourceRequirements into Docket's cpu
// and memory quantities and whole GPUs (nil when not given). Whether the executor can
// give GPUs is its admission's to say.
func resources(field string, vcpus, memory *int, reqs []resourceRequirement) (cpu, mem string, gpu *int, err error) {
	if vcpus != nil {
		if *vcpus <= 0 {
			return "", "", nil, clientErr("%s.vcpus: %d is not a positive number", field, *vcpus)
		}
		cpu = strconv.Itoa(*vcpus)
	}
	if memory != nil {
		if *memory <= 0 {
			return "", "", nil, clientErr("%s.memory: %d is not a positive number of MiB", field, *memory)
		}
		mem = fmt.Sprintf("%dMi", *memory)
	}
	if len(reqs) > 10 {
		return "", "", nil, clientErr("%s.resourceRequirements: %d given; at most 10", field, len(reqs))
	}
	for i, r := range reqs {
		f := fmt.Sprintf("%s.resourceRequirements[%d]", field, i)
		switch r.Type {
		case "VCPU":
			q, err := resource.ParseQuantity(r.Value)
			if err != nil || q.Sign() <= 0 {
				return "", "", nil, clientErr("%s.value: %q is not a positive number of vCPUs", f, job.Truncate(r.Value, 40))
			}
			cpu = r.Value
		case "MEMORY":
			n, err := strconv.Atoi(r.Value)
			if err != nil || n <= 0 {
				return "", "", nil, clientErr("%s.value: %q is not a positive number of MiB", f, job.Truncate(r.Value, 40))
			}
			mem = fmt.Sprintf("%dMi", n)
		case "GPU":
			n, err := strconv.Atoi(r.Value)
			if err != nil || n < 0 || n > definition.MaxGPU {
				return "", "", nil, clientErr("%s.value: %q is not a whole number of GPUs from 0 to %d", f, job.Truncate(r.Value, 40), definition.MaxGPU)
			}
			gpu = &n
		default:
			return "", "", nil, clientErr("%s.type: %q is not VCPU, MEMORY or GPU", f, job.Truncate(r.Type, 40))
		}
	}
	return cpu, mem, gpu, nil
}

// envOf turns AWS's environment list into Docket's env, refusing names given twice.
func envOf(field string, kv []keyValue) (map[string]string, error) {
	if len(kv) == 0 {
		return nil, nil
	}
	if len(kv) > 1000 {
		return nil, clientErr("%s: %d variables; at most 1000", field, len(kv))
	}
	env := make(map[string]string, len(kv))
	for i, e := range kv {
		if _, dup := env[e.Name]; dup {
			return nil, clientErr("%s[%d].name: %q is given twice", field, i, job.Truncate(e.Name, 100))
		}
		env[e.Name] = e.Value
	}
	if err := definition.ValidateEnv(field, env); err != nil {
		return nil, err
	}
	return env, nil
}

func requirementsOf(spec job.Spec) []resourceRequirement {
	var out []resourceRequirement
	cpu, memory := spec.CPU, spec.Memory
	if spec.GPU > 0 {
		out = append(out, resourceRequirement{Type: "GPU", Value: strconv.Itoa(spec.GPU)})
	}
	if q, err := resource.ParseQuantity(cpu); err == nil {
		out = append(out, resourceRequirement{Type: "VCPU", Value: strconv.FormatFloat(q.AsApproximateFloat64(), 'f', -1, 64)})
	}
	if mib, ok := mebibytes(memory); ok {
		out = append(out, resourceRequirement{Type: "MEMORY", Value: strconv.FormatInt(mib, 10)})
	}
	return out
}

// mebibytes is a memory quantity in MiB, rounded up.
func mebibytes(memory string) (int64, bool) {
	q, err := resource.ParseQuantity(memory)
	if err != nil {
		return 0, false
	}
	return int64(math.Ceil(q.AsApproximateFloat64() / (1 << 20))), true
}

func envList(env map[string]string) []keyValue {
	out := make([]keyValue, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, keyValue{Name: k, Value: env[k]})
	}
	return out
}

// retryStrategyOf is a spec's retries and retry rules as AWS's retryStrategy.
func retryStrategyOf(spec job.Spec) map[string]any {
	rs := map[string]any{"attempts": spec.Retries + 1}
	if len(spec.RetryOn) > 0 {
		rs["evaluateOnExit"] = exitRules(spec.RetryOn)
	}
	return rs
}
