package awsbatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

// noGPU admits what the process executor can run: anything but GPUs.
type noGPU struct{}

func (noGPU) Admit(_ context.Context, spec job.Spec) error {
	if spec.GPU > 0 {
		return job.Invalid("gpu", "this server's executor cannot give GPUs")
	}
	return nil
}

type nopCanceller struct{}

func (nopCanceller) Cancel(context.Context, string, string) (job.Run, error) { return job.Run{}, nil }

var testNow = time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)

func setup(t testing.TB, tokens *auth.Tokens) *Handler {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(Options{Store: st, Canceller: nopCanceller{}, Limits: definition.DefaultLimits(), Tokens: tokens, Admission: noGPU{}, Now: func() time.Time { return testNow }})
}

// call serves one request and returns the status, the error type header and the body.
func call(h http.Handler, r *http.Request) (int, string, map[string]any) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return w.Code, w.Header().Get("X-Amzn-ErrorType"), body
}

func post(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// signedPost signs a request as SigV4 clients do (content-type;host;x-amz-date).
func signedPost(path, body, keyID, secret string, at time.Time) *http.Request {
	r := post(path, body)
	r.Host = "127.0.0.1:8080"
	amzDate := at.UTC().Format("20060102T150405Z")
	r.Header.Set("X-Amz-Date", amzDate)
	s := signature{keyID: keyID, date: amzDate[:8], region: "us-east-1", service: "batch", signed: []string{"content-type", "host", "x-amz-date"}}
	sig := sign(secret, s, stringToSign(r, []byte(body), s, amzDate))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyID+"/"+s.date+"/us-east-1/batch/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="+hex.EncodeToString(sig))
	return r
}

func TestErrorsAreAWSJSON(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	big := `{"jobName":"` + strings.Repeat("a", maxBody) + `"}`
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		typ    string
		msg    string
	}{
		{"unknown operation", post("/v1/nosuchthing", "{}"), 404, "ClientException", "no AWS Batch operation"},
		{"GET", httptest.NewRequest(http.MethodGet, "/v1/submitjob", nil), 405, "ClientException", "takes POST"},
		{"too large", post("/v1/submitjob", big), 413, "ClientException", "larger than 1 MiB"},
		{"not JSON", post("/v1/submitjob", "{"), 400, "ClientException", "not a valid JSON object"},
		{"wrong type", post("/v1/submitjob", `{"jobName": 3}`), 400, "ClientException", "jobName"},
		{"too deep", post("/v1/describejobs", strings.Repeat("[", 40)+strings.Repeat("]", 40)), 400, "ClientException", "nests"},
		{"unsupported feature", post("/v1/registerjobdefinition", `{"jobDefinitionName":"x","type":"container","eksProperties":{"podProperties":{}}}`), 400, "ClientException", "eksProperties: is not supported"},
		{"multinode", post("/v1/registerjobdefinition", `{"jobDefinitionName":"x","type":"multinode"}`), 400, "ClientException", "multinode"},
		{"GPU", post("/v1/registerjobdefinition", `{"jobDefinitionName":"x","type":"container","containerProperties":{"image":"a","vcpus":1,"memory":8,"resourceRequirements":[{"type":"GPU","value":"1"}]}}`), 400, "ClientException", "cannot give GPUs"},
		{"bad name", post("/v1/registerjobdefinition", `{"jobDefinitionName":"Not_A_Label","type":"container","containerProperties":{"image":"a","vcpus":1,"memory":8}}`), 400, "ClientException", "name"},
		{"timeout past what a duration holds", post("/v1/registerjobdefinition", `{"jobDefinitionName":"x","type":"container","containerProperties":{"image":"a","vcpus":1,"memory":8},"timeout":{"attemptDurationSeconds":9300000000}}`), 400, "ClientException", "attemptDurationSeconds: 9300000000 is not from 60 to 86400"},
		{"bad token", post("/v1/listjobs", `{"jobQueue":"default","nextToken":"nope"}`), 400, "ClientException", "nextToken"},
		{"unknown logs operation", func() *http.Request {
			r := post("/", "{}")
			r.Header.Set("X-Amz-Target", "Logs_20140328.PutLogEvents")
			return r
		}(), 400, "UnknownOperationException", "PutLogEvents"},
	} {
		status, typ, body := call(h, tc.req)
		msg, _ := body["message"].(string)
		if status != tc.status || typ != tc.typ || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %s %q; want %d %s with %q", tc.name, status, typ, msg, tc.status, tc.typ, tc.msg)
		}
	}
}

func TestUnknownMembersIgnored(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	status, typ, body := call(h, post("/v1/registerjobdefinition", `{"jobDefinitionName": "x", "type": "container", "somethingNew": {"a": [1]},
		"containerProperties": {"image": "busybox", "vcpus": 1, "memory": 64, "command": ["echo", "Ref::w"], "newer": true}, "parameters": {"w": "\u00e9"}}`))
	if status != 200 || body["revision"] != float64(1) {
		t.Fatalf("register with unknown members: %d %s %v", status, typ, body)
	}
	status, _, body = call(h, post("/v1/submitjob", `{"jobName": "j", "jobQueue": "default", "jobDefinition": "x", "shareIdentifier2": "z"}`))
	if status != 200 || body["jobId"] == "" {
		t.Fatalf("submit: %d %v", status, body)
	}
	run, err := h.opts.Store.RunGet(context.Background(), body["jobId"].(string))
	if err != nil || run.Overrides == nil || run.Overrides.Command != nil || run.Params["w"] != "é" || run.Env["AWS_BATCH_JOB_ID"] != run.ID {
		t.Fatalf("the run: %+v, %v", run, err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	call(h, post("/v1/registerjobdefinition", `{"jobDefinitionName":"x","type":"container","containerProperties":{"image":"a","vcpus":1,"memory":8}}`))
	submit := func(body string) (int, map[string]any) {
		r := post("/v1/submitjob", body)
		r.Header.Set("Idempotency-Key", "k1")
		status, _, out := call(h, r)
		return status, out
	}
	s1, a := submit(`{"jobName":"j","jobQueue":"default","jobDefinition":"x"}`)
	s2, b := submit(`{"jobName":"j","jobQueue":"default","jobDefinition":"x"}`)
	if s1 != 200 || s2 != 200 || a["jobId"] != b["jobId"] {
		t.Fatalf("the same request twice: %d %v, %d %v; want one job", s1, a, s2, b)
	}
	if s3, c := submit(`{"jobName":"other","jobQueue":"default","jobDefinition":"x"}`); s3 != 400 || !strings.Contains(c["message"].(string), "Idempotency-Key") {
		t.Fatalf("the key with another request: %d %v", s3, c)
	}
	// The same by a tag, for clients that cannot add a header.
	tagged := `{"jobName":"t","jobQueue":"default","jobDefinition":"x","tags":{"docket:idempotency-key":"k2"}}`
	_, _, c := call(h, post("/v1/submitjob", tagged))
	_, _, d := call(h, post("/v1/submitjob", tagged))
	if c["jobId"] == nil || c["jobId"] != d["jobId"] || c["jobId"] == a["jobId"] {
		t.Fatalf("the tagged request twice: %v, %v", c, d)
	}
}

func TestSignatureRequiredWithTokens(t *testing.T) {
	t.Parallel()
	id, secret, err := auth.NewAWSKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("bearer"))
	toks, err := auth.Parse([]byte("tokens:\n  - {name: v, role: viewer, aws_access_key_id: " + id + ", aws_secret_access_key: \"" + secret + "\"}\n  - {name: b, role: admin, sha256: " + hex.EncodeToString(sum[:]) + "}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := setup(t, toks)
	body := `{"jobs":["x"]}`
	for _, tc := range []struct {
		name   string
		req    *http.Request
		status int
		typ    string
	}{
		{"signed", signedPost("/v1/describejobs", body, id, secret, testNow), 200, ""},
		{"unsigned", post("/v1/describejobs", body), 403, "MissingAuthenticationTokenException"},
		{"bearer token", func() *http.Request {
			r := post("/v1/describejobs", body)
			r.Header.Set("Authorization", "Bearer bearer")
			return r
		}(), 403, "MissingAuthenticationTokenException"},
		{"wrong secret", signedPost("/v1/describejobs", body, id, secret+"x", testNow), 403, "InvalidSignatureException"},
		{"unknown key", signedPost("/v1/describejobs", body, "AKDKAAAAAAAAAAAAAAAA", secret, testNow), 403, "UnrecognizedClientException"},
		{"16 minutes old", signedPost("/v1/describejobs", body, id, secret, testNow.Add(-16*time.Minute)), 403, "InvalidSignatureException"},
		{"role too weak", signedPost("/v1/submitjob", `{}`, id, secret, testNow), 403, "AccessDeniedException"},
		{"body changed", func() *http.Request {
			r := signedPost("/v1/describejobs", body, id, secret, testNow)
			r.Body = http.NoBody
			return r
		}(), 403, "InvalidSignatureException"},
	} {
		status, typ, out := call(h, tc.req)
		if status != tc.status || typ != tc.typ {
			t.Errorf("%s: %d %s %v; want %d %s", tc.name, status, typ, out, tc.status, tc.typ)
		}
	}
}

// TestTeams: a key limited to a team registers only definitions tagged with its team,
// submits only its team's jobs, and stops only its team's runs, also once their job is
// deleted.
func TestTeams(t *testing.T) {
	t.Parallel()
	id, secret, _ := auth.NewAWSKey()
	webID, webSecret, _ := auth.NewAWSKey()
	toks, err := auth.Parse([]byte("tokens:\n  - {name: ds, role: editor, teams: [ds], aws_access_key_id: " + id + ", aws_secret_access_key: \"" + secret + "\"}\n" +
		"  - {name: web, role: editor, teams: [web], aws_access_key_id: " + webID + ", aws_secret_access_key: \"" + webSecret + "\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := setup(t, toks)
	def := func(tags string) string {
		return `{"jobDefinitionName":"x","type":"container","containerProperties":{"image":"a","vcpus":1,"memory":8}` + tags + `}`
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
	}{
		{"untagged", "/v1/registerjobdefinition", def(""), 403},
		{"another team", "/v1/registerjobdefinition", def(`,"tags":{"team":"web"}`), 403},
		{"its team", "/v1/registerjobdefinition", def(`,"tags":{"team":"ds"}`), 200},
		{"giving it away", "/v1/registerjobdefinition", def(`,"tags":{"team":"web"}`), 403},
		{"submit", "/v1/submitjob", `{"jobName":"j","jobQueue":"default","jobDefinition":"x"}`, 200},
	} {
		status, typ, out := call(h, signedPost(tc.path, tc.body, id, secret, testNow))
		if status != tc.status || (status == 403) != (typ == "AccessDeniedException") {
			t.Errorf("%s: %d %s %v; want %d", tc.name, status, typ, out, tc.status)
		}
	}

	webDef := strings.Replace(def(`,"tags":{"team":"web"}`), `"x"`, `"y"`, 1)
	if status, typ, out := call(h, signedPost("/v1/registerjobdefinition", webDef, webID, webSecret, testNow)); status != 200 {
		t.Fatalf("web registers y: %d %s %v", status, typ, out)
	}
	status, typ, out := call(h, signedPost("/v1/submitjob", `{"jobName":"j","jobQueue":"default","jobDefinition":"y"}`, webID, webSecret, testNow))
	if status != 200 {
		t.Fatalf("web submits y: %d %s %v", status, typ, out)
	}
	terminate := `{"jobId":"` + out["jobId"].(string) + `","reason":"not mine"}`
	if status, typ, out := call(h, signedPost("/v1/terminatejob", terminate, id, secret, testNow)); status != 403 || typ != "AccessDeniedException" {
		t.Errorf("ds terminates web's job: %d %s %v; want 403", status, typ, out)
	}
	if err := h.opts.Store.DefinitionDelete(context.Background(), "y", testNow); err != nil {
		t.Fatal(err)
	}
	if status, typ, out := call(h, signedPost("/v1/terminatejob", terminate, id, secret, testNow)); status != 403 || typ != "AccessDeniedException" {
		t.Errorf("ds terminates web's job, its definition deleted: %d %s %v; want 403", status, typ, out)
	}
	if status, typ, out := call(h, signedPost("/v1/terminatejob", terminate, webID, webSecret, testNow)); status != 200 {
		t.Errorf("web terminates its job, its definition deleted: %d %s %v; want 200", status, typ, out)
	}
}

// TestRegisterSameBody: registering a body identical to the latest revision answers that
// revision; a changed body makes the next one, and the first body again a third.
func TestRegisterSameBody(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	register := func(body string) any {
		t.Helper()
		status, typ, out := call(h, post("/v1/registerjobdefinition", body))
		if status != 200 {
			t.Fatalf("register: %d %s %v", status, typ, out)
		}
		return out["revision"]
	}
	one := `{"jobDefinitionName": "same", "type": "container", "parameters": {"w": "x"}, "retryStrategy": {"attempts": 2},
		"containerProperties": {"image": "busybox", "vcpus": 1, "memory": 64, "command": ["echo", "Ref::w"]}}`
	// The CLI's separators and escapes differ from the SDK's: the same definition.
	oneCompact := strings.NewReplacer("\n\t\t", "", ": ", ":", ", ", ",").Replace(one)
	two := strings.Replace(one, `"memory": 64`, `"memory": 128`, 1)
	for i, tc := range []struct {
		body string
		want float64
	}{{one, 1}, {one, 1}, {oneCompact, 1}, {two, 2}, {two, 2}, {one, 3}} {
		if got := register(tc.body); got != tc.want {
			t.Errorf("registration %d: revision %v; want %v", i, got, tc.want)
		}
	}
}

// TestDependsOnBound: each task of an array waits for each of its dependencies, so their
// product is bounded: 11 dependencies for each of 10,000 tasks is refused, storing no run.
func TestDependsOnBound(t *testing.T) {
	t.Parallel()
	h := setup(t, nil)
	if status, typ, out := call(h, post("/v1/registerjobdefinition", `{"jobDefinitionName":"x","type":"container","containerProperties":{"image":"a","vcpus":1,"memory":8}}`)); status != 200 {
		t.Fatalf("register: %d %s %v", status, typ, out)
	}
	var deps []string
	for range 11 {
		_, _, out := call(h, post("/v1/submitjob", `{"jobName":"dep","jobQueue":"default","jobDefinition":"x"}`))
		deps = append(deps, `{"jobId":"`+out["jobId"].(string)+`"}`)
	}
	body := `{"jobName":"wide","jobQueue":"default","jobDefinition":"x","arrayProperties":{"size":10000},"dependsOn":[` + strings.Join(deps, ",") + `]}`
	status, typ, out := call(h, post("/v1/submitjob", body))
	if status != 400 || typ != "ClientException" || !strings.Contains(fmt.Sprint(out["message"]), "dependsOn: 11 dependencies for each of 10000 tasks") {
		t.Errorf("submit: %d %s %v; want a ClientException on dependsOn", status, typ, out)
	}
	if runs, _, err := h.opts.Store.RunList(context.Background(), store.RunFilter{Job: "x", Limit: 100}); err != nil || len(runs) != 11 {
		t.Errorf("%d runs of x, %v; want the 11 dependencies alone", len(runs), err)
	}
}

// TestAttemptDuration: a timeout is from 60 s to the server's maximum, or with none to what
// a time.Duration holds; a number past that is refused, not wrapped around.
func TestAttemptDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		secs int
		max  time.Duration
		want time.Duration
	}{{60, time.Hour, time.Minute}, {3600, time.Hour, time.Hour}, {3601, time.Hour, 0}, {59, 0, 0},
		{9223372036, 0, 9223372036 * time.Second}, {9223372037, 0, 0}, {9300000000, 0, 0}} {
		got, err := attemptDuration(tc.secs, tc.max)
		if got != tc.want || (err == nil) != (tc.want > 0) {
			t.Errorf("attemptDuration(%d, %s) = %s, %v; want %s", tc.secs, tc.max, got, err, tc.want)
		}
	}
}
