package api

import (
	"encoding/json"
	"strings"
	"testing"

	"docket.dev/docket/internal/auth"
)

// TestRunnerToken checks a runner token: it submits runs of the jobs it names (with an
// Idempotency-Key, once) and reads them, and may do nothing else.
func TestRunnerToken(t *testing.T) {
	t.Parallel()
	f := setup(t)
	admin, ci := "dkt_admin-secret-for-the-runner-test-000000000", "dkt_ci-secret-for-the-runner-test-00000000000"
	tokens, err := auth.Parse([]byte("tokens:\n  - {name: ops, role: admin, sha256: " + auth.Hash(admin) + "}\n" +
		"  - {name: ci, role: runner, jobs: [nightly], sha256: " + auth.Hash(ci) + "}\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.api.opts.Tokens = tokens
	for _, name := range []string{"nightly", "ledger"} {
		if status, body := f.call(t, "PUT", "/api/v1/jobs/"+name, "application/yaml", strings.Replace(goodJob, "nightly", name, 1), "Authorization", "Bearer "+admin); status != 201 {
			t.Fatalf("apply %s: %d %s", name, status, body)
		}
	}
	_, body := f.call(t, "POST", "/api/v1/jobs/ledger/runs", "", "", "Authorization", "Bearer "+admin)
	var other struct{ ID string }
	json.Unmarshal(body, &other)
	as := []string{"Authorization", "Bearer " + ci}
	status, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "", "", append(as, "Idempotency-Key", "build-42")...)
	var mine struct{ ID string }
	if json.Unmarshal(body, &mine); status != 201 || mine.ID == "" {
		t.Fatalf("the runner submits its job: %d %s", status, body)
	}
	if status, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "", "", append(as, "Idempotency-Key", "build-42")...); status != 200 || !strings.Contains(string(body), mine.ID) {
		t.Errorf("the same key again: %d %s; want the first run", status, body)
	}
	status, body = f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"tasks": 2}`, as...)
	var array struct{ ID string }
	if json.Unmarshal(body, &array); status != 201 || array.ID == "" {
		t.Fatalf("the runner submits an array of its job: %d %s", status, body)
	}
	_, body = f.call(t, "POST", "/api/v1/jobs/ledger/runs", "application/json", `{"tasks": 2}`, "Authorization", "Bearer "+admin)
	var otherArray struct{ ID string }
	json.Unmarshal(body, &otherArray)
	tests := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"reads its job", "GET", "/api/v1/jobs/nightly", "", 200, ""},
		{"reads its run", "GET", "/api/v1/runs/" + mine.ID, "", 200, mine.ID},
		{"reads its run's events", "GET", "/api/v1/runs/" + mine.ID + "/events", "", 200, ""},
		{"lists its job's runs", "GET", "/api/v1/runs?job=nightly", "", 200, mine.ID},
		{"lists the children of its run", "GET", "/api/v1/runs?parent=" + mine.ID, "", 200, `"runs":[]`},
		{"cannot list another job's children", "GET", "/api/v1/runs?parent=" + other.ID, "", 403, `is of job \"ledger\"`},
		{"reads its array's results", "GET", "/api/v1/runs/" + array.ID + "/results", "", 200, `"size":2`},
		{"reads its run's files", "GET", "/api/v1/runs/" + mine.ID + "/files", "", 200, `"inputs":[]`},
		{"cannot read another job's results", "GET", "/api/v1/runs/" + otherArray.ID + "/results", "", 403, `is of job \"ledger\"`},
		{"cannot read another job's files", "GET", "/api/v1/runs/" + other.ID + "/files", "", 403, `is of job \"ledger\"`},
		{"cannot upload a blob", "PUT", "/api/v1/blobs/" + strings.Repeat("a", 64) + "?size=1", "x", 403, "submits and reads"},
		{"knows who it is", "GET", "/api/v1/whoami", "", 200, `"jobs":["nightly"]`},
		{"cannot run another job", "POST", "/api/v1/jobs/ledger/runs", "", 403, `may not reach job \"ledger\"`},
		{"cannot set its run's env", "POST", "/api/v1/jobs/nightly/runs", `{"env": {"BASH_ENV": "/tmp/x"}}`, 403, "may set params and an array's tasks, not env"},
		{"cannot send input files", "POST", "/api/v1/jobs/nightly/runs", `{"files": [{"path": "a", "sha256": "` + strings.Repeat("a", 64) + `", "size": 1}]}`, 403, "not files"},
		{"cannot choose its run's queue", "POST", "/api/v1/jobs/nightly/runs", `{"queue": "fast"}`, 403, "not queue"},
		{"cannot raise its run's priority", "POST", "/api/v1/jobs/nightly/runs", `{"priority": 1000}`, 403, "not priority"},
		{"cannot read another job", "GET", "/api/v1/jobs/ledger", "", 403, "may not reach"},
		{"cannot read another job's run", "GET", "/api/v1/runs/" + other.ID, "", 403, `is of job \"ledger\"`},
		{"cannot list every run", "GET", "/api/v1/runs", "", 403, "?job=NAME"},
		{"cannot list jobs", "GET", "/api/v1/jobs", "", 403, "submits and reads runs of those jobs only"},
		{"cannot apply its job", "PUT", "/api/v1/jobs/nightly", goodJob, 403, "submits and reads"},
		{"cannot cancel its run", "POST", "/api/v1/runs/" + mine.ID + "/cancel", "", 403, "submits and reads"},
		{"cannot resume its run", "POST", "/api/v1/runs/" + mine.ID + "/retry", "", 403, "submits and reads"},
		{"cannot delete its job", "DELETE", "/api/v1/jobs/nightly", "", 403, "submits and reads"},
	}
	for _, tt := range tests {
		status, body := f.call(t, tt.method, tt.path, "application/yaml", tt.body, as...)
		if status != tt.status || !strings.Contains(string(body), tt.msg) {
			t.Errorf("%s: %d %s; want %d with %q", tt.name, status, body, tt.status, tt.msg)
		}
	}
	for _, bad := range []string{
		"tokens:\n  - {name: ci, role: runner, sha256: " + auth.Hash(ci) + "}\n",
		"tokens:\n  - {name: ci, role: editor, jobs: [nightly], sha256: " + auth.Hash(ci) + "}\n",
	} {
		if _, err := auth.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "tokens[0].jobs") {
			t.Errorf("tokens file %q: %v; want an error naming tokens[0].jobs", bad, err)
		}
	}
}
