package container

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"k8s.io/apimachinery/pkg/api/resource"

	"docket.dev/docket/internal/job"
)

// containerConfig builds the container for an execution. The definition's command
// replaces the image's entrypoint, as a Kubernetes container's command does; with no
// command the image's own entrypoint and arguments run. cpu and memory become limits, and
// swap is held at the memory limit so a run over it is OOM-killed rather than swapped.
func containerConfig(x job.Execution, network string) (*container.Config, *container.HostConfig, error) {
	labels := map[string]string{}
	maps.Copy(labels, x.Labels)
	labels[LabelRun] = x.Run.ID
	labels[LabelJob] = x.Run.Job
	labels[LabelAttempt] = strconv.Itoa(x.Run.Attempt)

	var env []string
	for _, k := range slices.Sorted(maps.Keys(x.Env)) {
		env = append(env, k+"="+x.Env[k])
	}
	cfg := &container.Config{
		Image:  x.Image,
		Env:    env,
		Labels: labels,
	}
	if len(x.Inputs) > 0 {
		// The inputs are copied there before the container starts (inputs.go).
		cfg.Env = append(cfg.Env, "DOCKET_INPUTS="+InputsDir)
		cfg.WorkingDir = InputsDir
	}
	if len(x.Command) > 0 {
		cfg.Entrypoint = x.Command[:1]
		cfg.Cmd = x.Command[1:]
		if len(cfg.Cmd) == 0 {
			// An empty, non-nil Cmd drops the image's default arguments.
			cfg.Cmd = []string{}
		}
	}

	var res container.Resources
	if x.CPU != "" {
		q, err := resource.ParseQuantity(x.CPU)
		if err != nil {
			return nil, nil, fmt.Errorf("cpu %q: %w", x.CPU, err)
		}
		res.NanoCPUs = q.MilliValue() * 1_000_000
	}
	if x.Memory != "" {
		q, err := resource.ParseQuantity(x.Memory)
		if err != nil {
			return nil, nil, fmt.Errorf("memory %q: %w", x.Memory, err)
		}
		res.Memory = q.Value()
		res.MemorySwap = res.Memory
	}
	host := &container.HostConfig{Resources: res}
	if network != "" {
		host.NetworkMode = container.NetworkMode(network)
	}
	return cfg, host, nil
}
