package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// TestPrintYAMLRoundTrip prints definitions as docket get job -o yaml does and reads them
// back as docket apply does: every value comes back as it was, however YAML would
// otherwise read it (booleans of YAML 1.1, numbers, dates, nulls, several lines).
func TestPrintYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	tricky := []string{
		"yes", "no", "on", "Off", "y", "N", "true", "null", "~", "", " ", "0755", "0x1f", "1e3", "1_000",
		"1:20", ".5", "-", "- x", "a: b", "#c", "x #c", "{{ .RunID }}", "[1]", "'q'", "\"dq\"",
		"2026-01-01", "2026-01-01T03:00:00Z", "multi\nline", "trailing\n", " lead", "tab\there", "é", "@at", "`tick", "%pct",
		"*star", "&amp", "!bang", "|pipe", ">gt", "?q", "---", "...", "<<",
	}
	vars := map[string]string{}
	for i, v := range tricky {
		vars["V"+string(rune('A'+i%26))+string(rune('A'+i/26))] = v
	}
	specs := []job.Spec{
		{Name: "minimal", Image: "busybox", CPU: "1", Memory: "64Mi"},
		{
			Name: "full", Image: "registry.example.com/ds/train:1.4.2",
			Command: append([]string{"python", "train.py"}, tricky...),
			CPU:     "500m", Memory: "4Gi", Schedule: "0 3 * * *", Timezone: "America/New_York",
			Concurrency: job.ConcurrencyReplace, Catchup: job.CatchupAll, Deadline: job.Duration(90 * time.Minute),
			Retries: 2, ExpectSuccessWithin: job.Duration(26 * time.Hour), Env: vars,
			Labels: map[string]string{"team": "ds", "yes": "no"}, Annotations: map[string]string{"owner": "1.0"},
			Kubernetes: &job.Kubernetes{Namespace: "ml", NodeSelector: map[string]string{"pool": "true"},
				Tolerations: []string{"gpu=true:NoSchedule"}, ServiceAccount: "trainer", PriorityClass: "batch-low"},
		},
	}
	for _, spec := range specs {
		var out bytes.Buffer
		e := &env{stdout: &out, output: outputYAML}
		if err := e.print(spec); err != nil {
			t.Fatal(err)
		}
		back, err := definition.Decode(out.Bytes())
		if err != nil {
			t.Fatalf("%s: decode the printed definition: %v\n%s", spec.Name, err, out.String())
		}
		if diff := cmp.Diff(spec, back); diff != "" {
			t.Errorf("%s: printed and read back (-want +got):\n%s\n%s", spec.Name, diff, out.String())
		}
	}
}

// TestPrintYAMLReads checks that YAML output reads as the reference writes a definition:
// fields in reference order, block style, quotes only where needed.
func TestPrintYAMLReads(t *testing.T) {
	t.Parallel()
	spec := job.Spec{Name: "train", Image: "busybox", Command: []string{"sh", "-c", "echo hi"}, CPU: "2", Memory: "4Gi",
		Schedule: "0 3 * * *", Deadline: job.Duration(2 * time.Hour), Env: map[string]string{"MODE": "full", "ON": "yes"}}
	var out bytes.Buffer
	if err := (&env{stdout: &out, output: outputYAML}).print(spec); err != nil {
		t.Fatal(err)
	}
	want := `name: train
image: busybox
command:
  - sh
  - -c
  - echo hi
cpu: "2"
memory: 4Gi
schedule: 0 3 * * *
deadline: 2h
env:
  MODE: full
  "ON": "yes"
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("YAML (-want +got):\n%s", diff)
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second:                                 "-",
		850 * time.Millisecond:                       "850ms",
		42*time.Second + 300*time.Millisecond:        "42s",
		3 * time.Minute:                              "3m",
		3*time.Minute + 20*time.Second:               "3m20s",
		2*time.Hour + 5*time.Minute + 40*time.Second: "2h6m",
		26 * time.Hour:                               "26h",
	} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%s) = %q, want %q", d, got, want)
		}
	}
}
