package awsbatch

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"docket.dev/docket/internal/job"
)

func logsCall(h http.Handler, op, body string) (int, string, map[string]any) {
	r := post("/", body)
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Logs_20140328."+op)
	return call(h, r)
}

func TestLogs(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	ctx := context.Background()
	st := h.opts.Store.(interface {
		Store
		RunCreate(context.Context, job.Run, job.Event) (job.Run, bool, error)
		LogAppend(context.Context, string, []byte) error
	})
	if _, _, err := st.DefinitionPut(ctx, job.Spec{Name: "logs", Image: "a", CPU: "1", Memory: "1Mi", Concurrency: job.ConcurrencyAllow}, testNow); err != nil {
		t.Fatal(err)
	}
	run := job.NewRun("logs", 1, job.TriggerAPI, testNow)
	run.State = job.StateRunning
	if _, _, err := st.RunCreate(ctx, run, run.FirstEvent()); err != nil {
		t.Fatal(err)
	}
	if err := st.LogAppend(ctx, run.ID, []byte("one\ntwo\nthr")); err != nil {
		t.Fatal(err)
	}
	stream := "logs/default/" + run.ID
	status, _, out := logsCall(h, "GetLogEvents", `{"logGroupName": "/aws/batch/job", "logStreamName": "`+stream+`", "startFromHead": true}`)
	events, _ := out["events"].([]any)
	if status != 200 || len(events) != 2 || out["nextForwardToken"] != "f/8" {
		t.Fatalf("GetLogEvents: %d %v; want the two whole lines and f/8", status, out)
	}
	// From the token: nothing new while the line is unfinished, the same token back.
	status, _, out = logsCall(h, "GetLogEvents", `{"logGroupName": "/aws/batch/job", "logStreamName": "`+stream+`", "nextToken": "f/8"}`)
	if events, _ := out["events"].([]any); status != 200 || len(events) != 0 || out["nextForwardToken"] != "f/8" {
		t.Fatalf("GetLogEvents at the end: %d %v", status, out)
	}
	status, _, out = logsCall(h, "FilterLogEvents", `{"logGroupName": "/aws/batch/job", "logStreamNames": ["`+stream+`"], "filterPattern": "\"tw\""}`)
	if events, _ := out["events"].([]any); status != 200 || len(events) != 1 || !strings.Contains(events[0].(map[string]any)["message"].(string), "two") {
		t.Fatalf("FilterLogEvents: %d %v", status, out)
	}
	for _, tc := range []struct{ op, body, typ string }{
		{"GetLogEvents", `{"logGroupName": "/aws/batch/job", "logStreamName": "logs/default/nope"}`, "ResourceNotFoundException"},
		{"GetLogEvents", `{"logGroupName": "/other", "logStreamName": "` + stream + `"}`, "ResourceNotFoundException"},
		{"GetLogEvents", `{"logGroupName": "/aws/batch/job", "logStreamName": "` + stream + `", "nextToken": "x/1"}`, "InvalidParameterException"},
		{"FilterLogEvents", `{"logGroupName": "/aws/batch/job"}`, "InvalidParameterException"},
		// Each term is looked for in every line: a pattern past CloudWatch's 1,024
		// characters is refused, not searched.
		{"FilterLogEvents", `{"logGroupName": "/aws/batch/job", "logStreamNames": ["` + stream + `"], "filterPattern": "` + strings.Repeat("a ", 513) + `"}`, "InvalidParameterException"},
	} {
		status, typ, out := logsCall(h, tc.op, tc.body)
		if status != 400 || typ != tc.typ || out["__type"] != tc.typ {
			t.Errorf("%s %s: %d %s %v; want 400 %s", tc.op, tc.body, status, typ, out, tc.typ)
		}
	}
}
