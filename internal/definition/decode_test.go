package definition

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

const minimal = "name: nightly\nimage: python:3.12\ncpu: 500m\nmemory: 1Gi\n"

func TestDecodeFull(t *testing.T) {
	t.Parallel()
	in := `
# A nightly training job.
name: nightly-train
image: registry.example.com/ds/train:1.4.2
command: ["python", "train.py", "--date", "{{ .ScheduledDate }}"]
cpu: 2
memory: 4Gi
schedule: "0 3 * * *"
timezone: America/New_York
concurrency: forbid
catchup: all
deadline: 2h
retries: 2
env: {MODE: full, THREADS: 4}
labels: {team: ds}
annotations: {owner: ana@example.com}
kubernetes:
  namespace: batch
  node_selector: {pool: batch, gpus: 1}
  tolerations: ["pool=batch:NoSchedule", "gpu"]
  service_account: trainer
  priority_class: batch-low
`
	got, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := job.Spec{
		Name: "nightly-train", Image: "registry.example.com/ds/train:1.4.2",
		Command: []string{"python", "train.py", "--date", "{{ .ScheduledDate }}"},
		CPU:     "2", Memory: "4Gi", Schedule: "0 3 * * *", Timezone: "America/New_York",
		Concurrency: job.ConcurrencyForbid, Catchup: job.CatchupAll,
		Deadline: job.Duration(2 * time.Hour), Retries: 2,
		Env:         map[string]string{"MODE": "full", "THREADS": "4"},
		Labels:      map[string]string{"team": "ds"},
		Annotations: map[string]string{"owner": "ana@example.com"},
		Kubernetes: &job.Kubernetes{
			Namespace: "batch", NodeSelector: map[string]string{"pool": "batch", "gpus": "1"},
			Tolerations: []string{"pool=batch:NoSchedule", "gpu"}, ServiceAccount: "trainer", PriorityClass: "batch-low",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
	// JSON is accepted too, and reads the same.
	js := `{"name":"nightly-train","image":"registry.example.com/ds/train:1.4.2","command":["python","train.py","--date","{{ .ScheduledDate }}"],"cpu":"2","memory":"4Gi","schedule":"0 3 * * *","timezone":"America/New_York","concurrency":"forbid","catchup":"all","deadline":"2h","retries":2,"env":{"MODE":"full","THREADS":"4"},"labels":{"team":"ds"},"annotations":{"owner":"ana@example.com"},"kubernetes":{"namespace":"batch","node_selector":{"pool":"batch","gpus":"1"},"tolerations":["pool=batch:NoSchedule","gpu"],"service_account":"trainer","priority_class":"batch-low"}}`
	got, err = Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode JSON (-want +got):\n%s", diff)
	}
}

// TestInvalid is the table of malformed definitions: each must name the field at fault
// and say what is wrong.
func TestInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, field, message string
	}{
		{"empty", "", "", "empty"},
		{"not a mapping", "- a\n- b\n", "", "mapping"},
		{"broken yaml", "name: [a\n", "", "not valid YAML"},
		{"two documents", minimal + "---\n" + minimal, "", "2 YAML documents"},
		{"duplicate key", minimal + "name: other\n", "", "not valid YAML"},
		{"yaml after a flow mapping", `{name: nightly, image: alpine, cpu: "1", memory: 1Gi}` + "\nschedule: '@daily'\n", "", "text follows the end"},
		{"yaml after json", `{"name": "nightly", "image": "alpine", "cpu": "1", "memory": "1Gi"}` + "\nschedule: '@daily'\n", "", "text follows the end"},
		{"unknown field with a suggestion", minimal + "schedul: '@daily'\n", "schedul", `did you mean "schedule"`},
		{"a kind, as a queue's (misspelt) or a Kubernetes object's", minimal + "kind: queue\n", "kind", "a job definition has no kind; only a queue's document has one, kind: Queue"},
		{"unknown field", minimal + "gpus: 1\n", "gpus", "not a field"},
		{"gpu out of range", minimal + "gpu: 65\n", "gpu", "out of range"},
		{"name missing", "image: a\ncpu: 1\nmemory: 1Gi\n", "name", "required"},
		{"name uppercase", strings.Replace(minimal, "nightly", "Nightly", 1), "name", "not a valid name"},
		{"name too long", strings.Replace(minimal, "nightly", strings.Repeat("a", 53), 1), "name", "limit is 52"},
		{"name a number", strings.Replace(minimal, "nightly", "[1]", 1), "name", "must be a string, not a list"},
		{"image missing", "name: a\ncpu: 1\nmemory: 1Gi\n", "image", "required"},
		{"image invalid", strings.Replace(minimal, "python:3.12", "Python:3 12", 1), "image", "not a valid image reference"},
		{"command not a list", minimal + "command: echo hi\n", "command", `must be a list of strings, such as ["python", "train.py"]`},
		{"command item not a string", minimal + "command: [echo, {a: b}]\n", "command[1]", "not a mapping"},
		{"command template unknown variable", minimal + "command: [echo, '{{ .Tomorrow }}']\n", "command[1]", ".ScheduledDate"},
		{"command template syntax", minimal + "command: [echo, '{{ .Job ']\n", "command[1]", `never closes it with "}}"`},
		{"command template loop", minimal + "command: [echo, '{{ range 100000 }}{{ range 100000 }}x{{ end }}{{ end }}']\n", "command[1]", "is not a substitution"},
		{"command template condition", minimal + "command: [echo, '{{ if false }}{{ .Nope }}{{ end }}']\n", "command[1]", "loops, conditions, variables, pipes and functions are not run"},
		{"command template function", minimal + "command: [echo, '{{ printf \"%d\" 1 }}']\n", "command[1]", "is not a substitution"},
		{"command template pipe", minimal + "command: [echo, '{{ .Job | printf \"%s\" }}']\n", "command[1]", "is not a substitution"},
		{"command template variable", minimal + "command: [echo, '{{ $x := 1 }}']\n", "command[1]", "is not a substitution"},
		{"command template dot", minimal + "command: [echo, '{{ . }}']\n", "command[1]", "is not a substitution"},
		{"command template below a value", minimal + "command: [echo, '{{ .Job.Name }}']\n", "command[1]", ".Job is a value with nothing below it"},
		{"command template unclosed quote", minimal + "command: [echo, '{{ \"x }}']\n", "command[1]", "no closing quote"},
		{"command NUL", minimal + "command: [echo, \"a\\0b\"]\n", "command[1]", "NUL"},
		{"command argument too long", minimal + "command: [echo, " + strings.Repeat("x", 131072) + "]\n", "command[1]", "at most 131071"},
		{"command argument too long once rendered", minimal + "command: [echo, '" + strings.Repeat("{{.Job}}", 3000) + "']\n", "command[1]", "can be 156000 bytes"},
		{"command and env too long together", minimal + "command: [echo" + strings.Repeat(", "+strings.Repeat("x", 100000), 11) + "]\n", "command", "together can be"},
		{"command empty program", minimal + "command: ['', x]\n", "command[0]", "empty"},
		{"cpu missing", "name: a\nimage: a\nmemory: 1Gi\n", "cpu", "required"},
		{"cpu not a quantity", strings.Replace(minimal, "500m", "lots", 1), "cpu", "not a Kubernetes quantity"},
		{"cpu zero", strings.Replace(minimal, "500m", "0", 1), "cpu", "more than zero"},
		{"cpu beyond any node", strings.Replace(minimal, "500m", "1e300", 1), "cpu", "more than any executor can give one run"},
		{"memory beyond any node", strings.Replace(minimal, "1Gi", "1e309", 1), "memory", "the most is 1Pi"},
		{"memory not a quantity", strings.Replace(minimal, "1Gi", "1GB!", 1), "memory", "not a Kubernetes quantity"},
		{"memory boolean", strings.Replace(minimal, "1Gi", "yes", 1), "memory", "boolean"},
		{"memory without a unit", strings.Replace(minimal, "1Gi", "4096", 1), "memory", `"4096" is 4096 bytes, too little for any process; write "4096Mi" for 4096 MiB`},
		{"memory in bytes", strings.Replace(minimal, "1Gi", "1000000", 1), "memory", `"1000000" is 1000000 bytes, too little for any process; write a unit, as in "512Mi" or "4Gi"`},
		{"memory in kilobytes", strings.Replace(minimal, "1Gi", "512k", 1), "memory", `"512k" is 512000 bytes, too little for any process; write a unit, as in "512Mi" or "4Gi"`},
		{"schedule six fields", minimal + "schedule: '0 0 3 * * *'\n", "schedule", "has 6 fields"},
		{"schedule out of range", minimal + "schedule: '0 25 * * *'\n", "schedule", "above maximum"},
		{"schedule never fires", minimal + "schedule: '0 0 31 2 *'\n", "schedule", "never fires"},
		{"schedule never fires in April", minimal + "schedule: '0 0 31 4,6 *'\n", "schedule", "never fires"},
		{"schedule zone prefix", minimal + "schedule: 'TZ=UTC 0 3 * * *'\n", "schedule", "timezone field"},
		{"timezone unknown", minimal + "timezone: Mars/Olympus\n", "timezone", "not an IANA time zone"},
		{"timezone Local", minimal + "timezone: Local\n", "timezone", "depends on the server"},
		{"concurrency", minimal + "concurrency: sometimes\n", "concurrency", "allow, forbid or replace"},
		{"catchup", minimal + "catchup: most\n", "catchup", "none, latest or all"},
		{"deadline not a duration", minimal + "deadline: two hours\n", "deadline", "not a duration"},
		{"deadline a number", minimal + "deadline: 7200\n", "deadline", "duration string"},
		{"deadline too long", minimal + "deadline: 48h\n", "deadline", "maximum of 24h"},
		{"deadline too short", minimal + "deadline: 10ms\n", "deadline", "at least 1s"},
		{"deadline zero", minimal + "deadline: 0s\n", "deadline", "0s is no deadline"},
		{"retries negative", minimal + "retries: -1\n", "retries", "0 to 10"},
		{"retries too many", minimal + "retries: 11\n", "retries", "0 to 10"},
		{"retries fraction", minimal + "retries: 1.5\n", "retries", "whole number"},
		{"retries string", minimal + "retries: two\n", "retries", "whole number"},
		{"env bad name", minimal + "env: {'1X': a}\n", "env.1X", "not a valid variable name"},
		{"env reserved", minimal + "env: {DOCKET_JOB: a}\n", "env.DOCKET_JOB", "set by Docket"},
		{"env value boolean", minimal + "env: {DEBUG: on}\n", "env.DEBUG", "quote it"},
		{"env not a mapping", minimal + "env: [A]\n", "env", "mapping"},
		{"env NUL", minimal + "env: {A: \"a\\0b\"}\n", "env.A", "NUL"},
		{"env too long", minimal + "env: {BIG: " + strings.Repeat("x", 131070) + "}\n", "env.BIG", "at most 131071"},
		{"label NUL", minimal + "labels: {team: \"a\\0b\"}\n", "labels.team", "NUL"},
		{"label reserved in capitals", minimal + "labels: {Docket.dev/job: x}\n", "labels.Docket.dev/job", "label key"},
		{"annotation NUL", minimal + "annotations: {owner: \"ana\\0\"}\n", "annotations.owner", "NUL"},
		{"annotation reserved in capitals", minimal + "annotations: {Docket.dev/x: z}\n", "annotations.Docket.dev/x", "set by Docket"},
		{"label key", minimal + "labels: {'bad key': x}\n", "labels.bad key", "label key"},
		{"label value", minimal + "labels: {team: 'data science'}\n", "labels.team", "label value"},
		{"label reserved", minimal + "labels: {docket.dev/job: x}\n", "labels.docket.dev/job", "set by Docket"},
		{"annotation key", minimal + "annotations: {'a b': x}\n", "annotations.a b", "annotation key"},
		{"kubernetes not a mapping", minimal + "kubernetes: batch\n", "kubernetes", "mapping"},
		{"kubernetes unknown field", minimal + "kubernetes: {nodeSelector: {a: b}}\n", "kubernetes.nodeSelector", "node_selector"},
		{"kubernetes namespace", minimal + "kubernetes: {namespace: Batch_Jobs}\n", "kubernetes.namespace", "not a namespace name"},
		{"kubernetes node selector value", minimal + "kubernetes: {node_selector: {pool: 'big pool'}}\n", "kubernetes.node_selector.pool", "label value"},
		{"kubernetes node selector key", minimal + "kubernetes: {node_selector: {'a b': x}}\n", "kubernetes.node_selector.a b", "label key"},
		{"kubernetes tolerations not a list", minimal + "kubernetes: {tolerations: gpu}\n", "kubernetes.tolerations", "list of strings"},
		{"kubernetes toleration effect", minimal + "kubernetes: {tolerations: [gpu, 'pool=batch:Never']}\n", "kubernetes.tolerations[1]", `effect "Never"`},
		{"kubernetes service account", minimal + "kubernetes: {service_account: Trainer}\n", "kubernetes.service_account", "object name"},
		{"kubernetes priority class", minimal + "kubernetes: {priority_class: [a]}\n", "kubernetes.priority_class", "not a list"},
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

func TestNormalizeDefaults(t *testing.T) {
	t.Parallel()
	spec, err := Decode([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Normalize(spec, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := spec
	want.Timezone, want.Concurrency, want.Catchup, want.Deadline = "UTC", job.ConcurrencyForbid, job.CatchupLatest, job.Duration(time.Hour)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Normalize (-want +got):\n%s", diff)
	}
}

func TestSplitDocuments(t *testing.T) {
	t.Parallel()
	in := "---\n# first\n" + minimal + "---\n# only a comment\n--- # third\n" + strings.Replace(minimal, "nightly", "hourly", 1)
	docs := SplitDocuments([]byte(in))
	if len(docs) != 2 {
		t.Fatalf("SplitDocuments = %d documents, want 2: %q", len(docs), docs)
	}
	for i, want := range []string{"nightly", "hourly"} {
		spec, err := Decode(docs[i])
		if err != nil || spec.Name != want {
			t.Errorf("document %d: name %q, err %v; want %q", i, spec.Name, err, want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "schedule: '@every 1m'\nenv: {A: 1}\ncommand: [sh, -c, 'echo {{ .RunID }}']\n"))
	f.Add([]byte(`{"name":"x","image":"y","cpu":1,"memory":"1Gi","retries":3}`))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Decode(data)
		if err != nil {
			var fe *job.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode error %v is not a *job.FieldError", err)
			}
			return
		}
		norm, err := Normalize(spec, DefaultLimits())
		if err != nil {
			var fe *job.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Normalize error %v is not a *job.FieldError", err)
			}
			return
		}
		// A valid definition stays valid and unchanged when normalized again.
		again, err := Normalize(norm, DefaultLimits())
		if err != nil {
			t.Fatalf("Normalize of a normalized spec: %v", err)
		}
		if diff := cmp.Diff(norm, again); diff != "" {
			t.Fatalf("Normalize is not idempotent (-first +second):\n%s", diff)
		}
	})
}

func TestDecodeEmptyKubernetes(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"kubernetes: {}\n", "kubernetes: {node_selector: {}, tolerations: []}\n", "kubernetes:\n"} {
		spec, err := Decode([]byte(minimal + in))
		if err != nil || spec.Kubernetes != nil {
			t.Errorf("Decode(%q) = %+v, %v; want no kubernetes block", in, spec.Kubernetes, err)
		}
	}
}

func TestRetryOn(t *testing.T) {
	t.Parallel()
	spec, err := Decode([]byte("name: r\nimage: busybox\ncpu: 1\nmemory: 1Gi\nretries: 2\nretry_on:\n  - {exit_code: \"137\", action: retry}\n  - {reason: DeadlineExceeded, action: exit}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Normalize(spec, DefaultLimits()); err != nil || len(spec.RetryOn) != 2 || spec.RetryOn[1].Action != job.RetryActionExit {
		t.Fatalf("retry_on: %+v, %v", spec.RetryOn, err)
	}
	for body, want := range map[string]string{
		"retry_on: [{exit_code: \"1\", action: maybe}]":  "retry_on[0].action",
		"retry_on: [{action: exit}]":                     "needs at least one",
		"retry_on: [{exit_code: \"1*2\", action: exit}]": "only at its end",
		"retry_on: [{exit_code: abc, action: exit}]":     "not an exit code",
		"retry_on: [{code: \"1\", action: exit}]":        "retry_on",
	} {
		spec, err := Decode([]byte("name: r\nimage: busybox\ncpu: 1\nmemory: 1Gi\n" + body + "\n"))
		if err == nil {
			_, err = Normalize(spec, DefaultLimits())
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want an error with %q", body, err, want)
		}
	}
}
