package definition

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

// pipeline is the workflow of the reference: a DAG with an always step, a step that
// reads another's result, and a step that overrides the job's fields.
const pipeline = `name: nightly-pipeline
image: registry.example.com/ds/pipeline:3
cpu: "1"
memory: 2Gi
deadline: 1h
retries: 1
env: {MODE: full, REGION: eu}
labels: {team: ds}
parallelism: 2
steps:
  - name: extract
    command: ["python", "extract.py", "--date", "{{ .ScheduledDate }}"]
  - name: train
    needs: [extract]
    image: registry.example.com/ds/train:1.4
    cpu: "4"
    memory: 16Gi
    retries: 2
    deadline: 30m
    env: {MODE: fast}
    command: ["python", "train.py", "--data", "{{ .Steps.extract.Result.path }}"]
  - {name: evaluate-a, needs: [train], command: ["python", "eval.py", "a", "{{ .Steps.extract.Result.path }}"]}
  - {name: evaluate-b, needs: [train], command: ["python", "eval.py", "b"]}
  - {name: publish, needs: [evaluate-a, evaluate-b], command: ["python", "publish.py", "{{ .Steps.evaluate-a.Result.score }}"]}
  - {name: notify, needs: [publish], when: always, command: ["sh", "-c", "echo done"]}
`

func TestStepsInherit(t *testing.T) {
	t.Parallel()
	spec, err := Decode([]byte(pipeline))
	if err == nil {
		spec, err = Normalize(spec, DefaultLimits())
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Steps) != 6 || spec.Parallelism != 2 || spec.Kind() != job.KindWorkflow {
		t.Fatalf("decoded %d steps, parallelism %d, kind %q", len(spec.Steps), spec.Parallelism, spec.Kind())
	}
	train := spec.ForStep("train")
	two := 2
	want := job.Spec{Name: "nightly-pipeline", Image: "registry.example.com/ds/train:1.4", CPU: "4", Memory: "16Gi",
		Command: []string{"python", "train.py", "--data", "{{ .Steps.extract.Result.path }}"}, Deadline: job.Duration(30 * time.Minute),
		Retries: two, Env: map[string]string{"MODE": "fast", "REGION": "eu"}, Labels: map[string]string{"team": "ds"},
		Timezone: "UTC", Concurrency: job.ConcurrencyForbid, Catchup: job.CatchupLatest}
	if diff := cmp.Diff(want, train); diff != "" {
		t.Errorf("ForStep(train) (-want +got):\n%s", diff)
	}
	notify := spec.ForStep("notify")
	if notify.Image != spec.Image || notify.CPU != "1" || notify.Retries != 1 || notify.Deadline != job.Duration(time.Hour) || notify.Env["MODE"] != "full" {
		t.Errorf("ForStep(notify) does not inherit the job's fields: %+v", notify)
	}
	if spec.Steps[5].When != job.WhenAlways || !cmp.Equal(spec.Steps[4].Needs, []string{"evaluate-a", "evaluate-b"}) {
		t.Errorf("steps decoded as %+v", spec.Steps)
	}
}

// TestStepQueue: a step may name a queue of its own; the others run in the job's.
func TestStepQueue(t *testing.T) {
	t.Parallel()
	spec, err := Decode([]byte(minimal + "queue: etl\nsteps:\n  - {name: prep, command: [prep]}\n  - {name: fit, needs: [prep], queue: gpu, command: [fit]}\n"))
	if err == nil {
		spec, err = Normalize(spec, DefaultLimits())
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{spec.ForStep("prep").Queue, spec.ForStep("fit").Queue}; !slices.Equal(got, []string{"etl", "gpu"}) {
		t.Errorf("queues of prep and fit: %q; want etl, gpu", got)
	}
	if diff := cmp.Diff([]string{"etl", "gpu"}, spec.Queues()); diff != "" {
		t.Errorf("the job's queues (-want +got):\n%s", diff)
	}
}

func TestStepsInvalid(t *testing.T) {
	t.Parallel()
	const base = minimal + "command: [run]\nsteps:\n"
	many := base
	for i := range DefaultMaxSteps + 1 {
		many += fmt.Sprintf("  - {name: s%d}\n", i)
	}
	tests := []struct {
		name, in, field, message string
	}{
		{"not a list", base + "  a: b\n", "steps", "list of steps"},
		{"step not a mapping", base + "  - extract\n", "steps[0]", "mapping"},
		{"unknown step field", base + "  - {name: a, need: [b]}\n", "steps[0].need", `did you mean "needs"?`},
		{"schedule in a step", base + "  - {name: a, schedule: '@daily'}\n", "steps[0].schedule", "not a field of a step"},
		{"name missing", base + "  - {command: [x]}\n", "steps[0].name", "required"},
		{"name invalid", base + "  - {name: Extract_1}\n", "steps[0].name", "not a valid step name"},
		{"name duplicate", base + "  - {name: a}\n  - {name: b}\n  - {name: a}\n", "steps[2].name", `"a" is also the name of steps[0]`},
		{"needs unknown with a suggestion", base + "  - {name: train}\n  - {name: eval, needs: [trian]}\n", "steps[1].needs[0]", `no step "trian"; did you mean "train"?`},
		{"needs unknown", base + "  - {name: train}\n  - {name: eval, needs: [publish]}\n", "steps[1].needs[0]", `no step "publish"; the steps are train, eval`},
		{"needs itself", base + "  - {name: a, needs: [a]}\n", "steps[0].needs[0]", "cannot need itself"},
		{"needs twice", base + "  - {name: a}\n  - {name: b, needs: [a, a]}\n", "steps[1].needs[1]", `names "a" twice`},
		{"needs not a list", base + "  - {name: a}\n  - {name: b, needs: a}\n", "steps[1].needs", "must be a list of strings, such as [extract, clean]"},
		{"cycle", base + "  - {name: a, needs: [c]}\n  - {name: b, needs: [a]}\n  - {name: c, needs: [b]}\n  - {name: d, needs: [c]}\n", "steps[0].needs", "cycle: a -> b -> c -> a"},
		{"when", base + "  - {name: a, when: sometimes}\n", "steps[0].when", "succeeded (the default) or always"},
		{"two results in one argument", base + "  - {name: a}\n  - {name: b, needs: [a], command: [sh, -c, 'echo {{ .Steps.a.Result.x }} {{ .Steps.a.Result.y }}']}\n",
			"steps[1].command[2]", "each step result it names may be 65536 bytes: name them in arguments of their own"},
		{"too many", many, "steps", "101 steps; a workflow has at most 100"},
		{"step cpu", base + "  - {name: a, cpu: lots}\n", "steps[0].cpu", "not a Kubernetes quantity"},
		{"step image", base + "  - {name: a, image: 'Bad Image'}\n", "steps[0].image", "not a valid image reference"},
		{"step retries", base + "  - {name: a, retries: 11}\n", "steps[0].retries", "0 to 10"},
		{"step deadline", base + "  - {name: a, deadline: 48h}\n", "steps[0].deadline", "maximum of 24h"},
		{"step deadline zero", base + "  - {name: a, deadline: 0s}\n", "steps[0].deadline", "no deadline"},
		{"step env reserved", base + "  - {name: a, env: {DOCKET_STEP: x}}\n", "steps[0].env.DOCKET_STEP", "set by Docket"},
		{"step label", base + "  - {name: a, labels: {team: 'a b'}}\n", "steps[0].labels.team", "label value"},
		{"step kubernetes", base + "  - {name: a, kubernetes: {namespace: Bad_NS}}\n", "steps[0].kubernetes.namespace", "not a namespace name"},
		{"step queue", base + "  - {name: a, queue: GPU_1}\n", "steps[0].queue", "not a queue name"},
		{"step command template", base + "  - {name: a, command: ['{{ .Tomorrow }}']}\n", "steps[0].command[0]", "names no value"},
		{"template of a step not upstream", base + "  - {name: a}\n  - {name: b}\n  - {name: c, needs: [a], command: ['{{ .Steps.b.Result.x }}']}\n", "steps[2].command[0]",
			`step "b" is not upstream of step c`},
		{"template of a step beside it", base + "  - {name: a, command: ['{{ .Steps.b.Result.x }}']}\n  - {name: b}\n", "steps[0].command[0]", `needs no other step, so it has no results to read; add "b" to its needs`},
		{"template of a step downstream", base + "  - {name: a, command: ['{{ .Steps.b.Result.x }}']}\n  - {name: b, needs: [a]}\n", "steps[0].command[0]",
			"step b runs after step a (it needs it), so it has no result yet when a starts"},
		{"template of its own result", base + "  - {name: a}\n  - {name: b, needs: [a], command: ['{{ .Steps.b.Result.x }}']}\n", "steps[1].command[0]", "its own result"},
		{"template of an unknown step", base + "  - {name: a}\n  - {name: b, needs: [a], command: ['{{ .Steps.z.Result }}']}\n", "steps[1].command[0]", `the workflow has no step "z"; its steps are a, b`},
		{"template of a misspelt step", base + "  - {name: extract}\n  - {name: b, needs: [extract], command: ['{{ .Steps.extrct.Result }}']}\n", "steps[1].command[0]", `the workflow has no step "extrct"; did you mean "extract"?`},
		{"template below a step", base + "  - {name: a}\n  - {name: b, needs: [a], command: ['{{ .Steps.a.Output }}']}\n", "steps[1].command[0]", "below .Steps.a are .Steps.a.Result"},
		{"inherited command naming a step", minimal + "command: ['{{ .Steps.a.Result.x }}']\nsteps:\n  - {name: a}\n", "steps[0].command[0]", "(step a has the job's command)"},
		{"job command naming no step", minimal + "command: ['{{ .Steps.z.Result.x }}']\nsteps:\n  - {name: a}\n", "command[0]", "names no value"},
		{"parallelism out of range without steps", minimal + "parallelism: 10001\n", "parallelism", "out of range"},
		{"parallelism negative", base + "  - {name: a}\nparallelism: -1\n", "parallelism", "out of range"},
		{"after not a list", minimal + "after: load\n", "after", "must be a list"},
		{"after unknown field", minimal + "after: [{job: load, when: succeeded}]\n", "after[0].when", "job and on"},
		{"after without a job", minimal + "after: [{on: failed}]\n", "after[0].job", "required"},
		{"after a bad name", minimal + "after: [{job: Load_1}]\n", "after[0].job", "not a job name"},
		{"after itself", minimal + "after: [{job: nightly}]\n", "after[0].job", "cycle of triggers (nightly -> nightly)"},
		{"after twice", minimal + "after: [{job: load}, {job: load, on: failed}]\n", "after[1].job", `names "load" twice`},
		{"after on", minimal + "after: [{job: load, on: done}]\n", "after[0].on", "succeeded (the default), failed or finished"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec, err := Decode([]byte(tt.in))
			if err == nil {
				_, err = Normalize(spec, DefaultLimits())
			}
			var fe *job.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v, want a *job.FieldError for %q", err, tt.field)
			}
			if fe.Field != tt.field || !strings.Contains(fe.Message, tt.message) {
				t.Errorf("error = field %q message %q; want field %q and a message containing %q", fe.Field, fe.Message, tt.field, tt.message)
			}
		})
	}
}

// TestRenderStepResults renders a step's command with the results of the steps it needs.
func TestRenderStepResults(t *testing.T) {
	t.Parallel()
	d := sample
	d.Steps = map[string]json.RawMessage{"extract": json.RawMessage(`{"path": "s3://b/2026-11-23", "rows": 1200, "ok": true, "meta": {"a": [1, 2]}}`), "evaluate-a": json.RawMessage(`{"score": 0.93}`)}
	got, err := RenderCommand([]string{"--data={{ .Steps.extract.Result.path }}", "{{ .Steps.extract.Result.rows }}", "{{ .Steps.extract.Result.ok }}",
		"{{ .Steps.extract.Result.meta }}", "[{{ .Steps.extract.Result.missing }}]", "{{ .Steps.evaluate-a.Result.score -}} x", "{{ .Steps.nothing.Result.x }}"}, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--data=s3://b/2026-11-23", "1200", "true", `{"a":[1,2]}`, "[]", "0.93x", ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RenderCommand (-want +got):\n%s", diff)
	}
}

func TestCheckTriggers(t *testing.T) {
	t.Parallel()
	defs := map[string]job.Spec{
		"load":   {Name: "load"},
		"report": {Name: "report", After: []job.After{{Job: "train"}}},
		"audit":  {Name: "audit", After: []job.After{{Job: "report", On: job.OnFinished}}},
	}
	tests := []struct {
		name  string
		after []job.After
		field string
		msg   string
	}{
		{"known", []job.After{{Job: "load"}}, "", ""},
		{"unknown with a suggestion", []job.After{{Job: "laod"}}, "after[0].job", `no job "laod"; did you mean "load"?`},
		{"unknown", []job.After{{Job: "load"}, {Job: "publish"}}, "after[1].job", `no job "publish"; apply it first`},
		// A short name two edits from another is no slip for it.
		{"unknown and short", []job.After{{Job: "ld"}}, "after[0].job", `no job "ld"; apply it first`},
		{"cycle", []job.After{{Job: "load"}, {Job: "audit"}}, "after", "the triggers form a cycle: train -> report -> audit -> train"},
	}
	for _, tt := range tests {
		err := CheckTriggers(job.Spec{Name: "train", After: tt.after}, defs)
		var fe *job.FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(fe.Message, tt.msg)):
			t.Errorf("%s: %v; want field %s saying %q", tt.name, err, tt.field, tt.msg)
		}
	}
}
