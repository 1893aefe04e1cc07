package awsbatch

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

// TestParameters: a definition's parameters are the job's params and Ref::NAME their
// templates, shown back as AWS wrote them; a submission's parameters are the run's
// params; a job applied with Docket's params reads as parameters.
func TestParameters(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	ctx := context.Background()
	status, typ, body := call(h, post("/v1/registerjobdefinition", `{"jobDefinitionName": "p", "type": "container", "parameters": {"who": "world", "extra": "e"},
		"containerProperties": {"image": "busybox", "vcpus": 1, "memory": 64, "command": ["echo", "Ref::who", "Ref::unset", "x-Ref::who"]}}`))
	if status != 200 {
		t.Fatalf("register: %d %s %v", status, typ, body)
	}
	def, err := h.opts.Store.DefinitionGet(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"echo", "{{ .Params.who }}", "{{ .Params.unset }}", "x-Ref::who"}, def.Command); diff != "" {
		t.Errorf("the job's command (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"who": "world", "extra": "e", "unset": "Ref::unset"}, def.Params); diff != "" {
		t.Errorf("the job's params (-want +got):\n%s", diff)
	}
	// Described as registered.
	_, _, body = call(h, post("/v1/describejobdefinitions", `{"jobDefinitionName": "p"}`))
	d := body["jobDefinitions"].([]any)[0].(map[string]any)
	if got := d["containerProperties"].(map[string]any)["command"]; !cmp.Equal(got, []any{"echo", "Ref::who", "Ref::unset", "x-Ref::who"}) {
		t.Errorf("described command %v", got)
	}
	if got := d["parameters"]; !cmp.Equal(got, map[string]any{"who": "world", "extra": "e"}) {
		t.Errorf("described parameters %v", got)
	}

	submit := func(body string) (int, map[string]any) {
		status, _, out := call(h, post("/v1/submitjob", body))
		return status, out
	}
	status, out := submit(`{"jobName": "j", "jobQueue": "default", "jobDefinition": "p", "parameters": {"who": "ana"}}`)
	if status != 200 {
		t.Fatalf("submit: %d %v", status, out)
	}
	run, err := h.opts.Store.RunGet(ctx, out["jobId"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"who": "ana", "extra": "e", "unset": "Ref::unset"}, run.Params); diff != "" {
		t.Errorf("the run's params (-want +got):\n%s", diff)
	}
	_, _, body = call(h, post("/v1/describejobs", `{"jobs": ["`+run.ID+`"]}`))
	j := body["jobs"].([]any)[0].(map[string]any)
	if got := j["container"].(map[string]any)["command"]; !cmp.Equal(got, []any{"echo", "ana", "Ref::unset", "x-Ref::who"}) {
		t.Errorf("the job's command %v", got)
	}
	if got := j["parameters"]; !cmp.Equal(got, map[string]any{"who": "ana", "extra": "e"}) {
		t.Errorf("the job's parameters %v", got)
	}

	// An overriding command: Ref:: of a declared param is its template, of one only the
	// submission gives its value.
	status, out = submit(`{"jobName": "o", "jobQueue": "default", "jobDefinition": "p", "parameters": {"who": "bo", "day": "mon"},
		"containerOverrides": {"command": ["echo", "Ref::who", "Ref::day", "Ref::none"]}}`)
	if status != 200 {
		t.Fatalf("submit with a command: %d %v", status, out)
	}
	run, _ = h.opts.Store.RunGet(ctx, out["jobId"].(string))
	if run.Overrides == nil || !cmp.Equal(run.Overrides.Command, []string{"echo", "{{ .Params.who }}", "mon", "Ref::none"}) || run.Params["who"] != "bo" {
		t.Errorf("the run's command %v and params %v", run.Overrides, run.Params)
	}

	for _, tc := range []struct{ body, msg string }{
		{`{"jobName": "u", "jobQueue": "default", "jobDefinition": "p", "parameters": {"nope": "1"}}`, "parameters.nope: job definition p:1 has no parameter nope"},
		{`{"jobName": "u", "jobQueue": "default", "jobDefinition": "p", "parameters": {"who": "a\u0000b"}}`, "parameters.who"},
	} {
		status, out := submit(tc.body)
		if msg, _ := out["message"].(string); status != 400 || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %v; want 400 with %q", tc.body, status, out, tc.msg)
		}
	}
	status, typ, body = call(h, post("/v1/registerjobdefinition", `{"jobDefinitionName": "bad", "type": "container", "parameters": {"in-file": "a"},
		"containerProperties": {"image": "busybox", "vcpus": 1, "memory": 64}}`))
	if msg, _ := body["message"].(string); status != 400 || typ != "ClientException" || !strings.Contains(msg, `"in-file" cannot be a Docket param`) {
		t.Errorf("a parameter Docket cannot name: %d %s %v", status, typ, body)
	}

	// A job applied with Docket's own params: required ones must be given.
	if _, _, err := h.opts.Store.DefinitionPut(ctx, job.Spec{Name: "native", Image: "busybox", CPU: "1", Memory: "64Mi",
		Command: []string{"echo", "{{ .Params.day }}"}, Params: map[string]string{"day": ""}, Concurrency: job.ConcurrencyAllow}, testNow); err != nil {
		t.Fatal(err)
	}
	status, out = submit(`{"jobName": "n", "jobQueue": "default", "jobDefinition": "native"}`)
	if msg, _ := out["message"].(string); status != 400 || !strings.Contains(msg, "parameters.day: is required") {
		t.Errorf("a required param left out: %d %v", status, out)
	}
	_, _, body = call(h, post("/v1/describejobdefinitions", `{"jobDefinitionName": "native"}`))
	d = body["jobDefinitions"].([]any)[0].(map[string]any)
	if got := d["containerProperties"].(map[string]any)["command"]; !cmp.Equal(got, []any{"echo", "Ref::day"}) || d["parameters"] != nil {
		t.Errorf("a Docket job's params as AWS shows them: %v, %v", got, d["parameters"])
	}
}
