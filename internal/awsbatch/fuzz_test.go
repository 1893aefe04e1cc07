package awsbatch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/job"
)

// FuzzRequest sends arbitrary SubmitJob bodies to an open server and arbitrary
// Authorization headers to one with keys: the face answers every request with a status
// under 500 and an AWS error type when it refuses, and never takes a forged signature.
func FuzzRequest(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/us-east-1/batch/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="+strings.Repeat("0", 64),
		`{"jobName": "j", "jobQueue": "default", "jobDefinition": "x", "arrayProperties": {"size": 3}, "dependsOn": [{"jobId": "a", "type": "N_TO_N"}]}`)
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request", `{"jobName": 1}`)
	f.Add("", `{"containerOverrides": {"resourceRequirements": [{"type": "GPU", "value": "x"}]}, "retryStrategy": {"evaluateOnExit": [{"action": "EXIT"}]}}`)
	h, open := setupFuzz(f), setup(f, nil)
	if _, _, err := open.opts.Store.DefinitionPut(context.Background(), job.Spec{Name: "x", Image: "a", CPU: "1", Memory: "1Mi", Timezone: "UTC", Concurrency: job.ConcurrencyAllow, Catchup: job.CatchupNone, Deadline: job.Duration(time.Hour)}, testNow); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, authorization, body string) {
		// On an open server every body is decoded: a client's mistake is never a 5xx.
		r := httptest.NewRequest(http.MethodPost, "/v1/submitjob", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if status, typ, _ := call(open, r); status >= 500 || status != 200 && typ == "" {
			t.Fatalf("open server: status %d type %q for %q", status, typ, body)
		}
		r = httptest.NewRequest(http.MethodPost, "/v1/submitjob", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Amz-Date", testNow.Format("20060102T150405Z"))
		r.Header.Set("Authorization", authorization)
		status, typ, _ := call(h, r)
		if status >= 500 {
			t.Fatalf("status %d for %q %q", status, authorization, body)
		}
		if status == 200 {
			t.Fatalf("a request signed with no known secret was taken: %q", authorization)
		}
		if typ == "" {
			t.Fatalf("status %d without X-Amzn-ErrorType", status)
		}
	})
}

func setupFuzz(f *testing.F) *Handler {
	toks, err := auth.Parse([]byte("tokens:\n  - {name: a, role: editor, aws_access_key_id: AKIDEXAMPLEAKIDEXAMPLE, aws_secret_access_key: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n"))
	if err != nil {
		f.Fatal(err)
	}
	return setup(f, toks)
}
