package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"docket.dev/docket/internal/auth"
)

// setupAuth serves the API with three tokens, one per role, and a low rate limit.
func setupAuth(t *testing.T) (*fixture, map[string]string) {
	t.Helper()
	f := setup(t)
	secrets := map[string]string{}
	file := "tokens:\n"
	for _, role := range []string{"viewer", "editor", "admin"} {
		secret, err := auth.New()
		if err != nil {
			t.Fatal(err)
		}
		secrets[role] = secret
		file += "  - {name: " + role + "-user, role: " + role + ", sha256: " + auth.Hash(secret) + "}\n"
	}
	tokens, err := auth.Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	f.api.opts.Tokens = tokens
	return f, secrets
}

func TestAuth(t *testing.T) {
	t.Parallel()
	f, secrets := setupAuth(t)
	bearer := func(role string) []string {
		if role == "" {
			return nil
		}
		if role == "bogus" {
			return []string{"Authorization", "Bearer dkt_not-a-token"}
		}
		if scheme, role, ok := strings.Cut(role, " "); ok {
			return []string{"Authorization", scheme + " " + secrets[role]}
		}
		return []string{"Authorization", "Bearer " + secrets[role]}
	}
	tests := []struct {
		name, role, method, path, body string
		status                         int
		msg                            string
	}{
		{"no token", "", "GET", "/api/v1/jobs", "", 401, "this server needs an API token"},
		{"unknown token", "bogus", "GET", "/api/v1/jobs", "", 401, "not one this server knows"},
		{"viewer reads", "viewer", "GET", "/api/v1/jobs", "", 200, ""},
		{"the scheme in lower case", "bearer viewer", "GET", "/api/v1/jobs", "", 200, ""},
		{"the scheme in capitals", "BEARER viewer", "GET", "/api/v1/jobs", "", 200, ""},
		{"another scheme", "Basic viewer", "GET", "/api/v1/jobs", "", 401, "this server needs an API token"},
		{"viewer cannot apply", "viewer", "PUT", "/api/v1/jobs/nightly", goodJob, 403, "has the role viewer; PUT /api/v1/jobs/nightly needs editor"},
		{"editor applies", "editor", "PUT", "/api/v1/jobs/nightly", goodJob, 201, ""},
		{"editor runs", "editor", "POST", "/api/v1/jobs/nightly/runs", "", 201, ""},
		{"editor cannot delete", "editor", "DELETE", "/api/v1/jobs/nightly", "", 403, "needs admin"},
		{"admin deletes", "admin", "DELETE", "/api/v1/jobs/nightly", "", 204, ""},
		{"editor cannot set a queue", "editor", "PUT", "/api/v1/queues/gpu", "max_running: 2\n", 403, "needs admin"},
		{"admin sets a queue", "admin", "PUT", "/api/v1/queues/gpu", "max_running: 2\n", 201, ""},
		{"viewer lists queues", "viewer", "GET", "/api/v1/queues", "", 200, ""},
		{"queues need a token", "", "GET", "/api/v1/queues", "", 401, "this server needs an API token"},
		{"editor cannot delete a queue", "editor", "DELETE", "/api/v1/queues/gpu", "", 403, "needs admin"},
		{"admin deletes a queue", "admin", "DELETE", "/api/v1/queues/gpu", "", 204, ""},
		{"health needs no token", "", "GET", "/healthz", "", 200, ""},
	}
	for _, tt := range tests {
		status, body := f.call(t, tt.method, tt.path, "application/yaml", tt.body, bearer(tt.role)...)
		if status != tt.status || !strings.Contains(string(body), tt.msg) {
			t.Errorf("%s: %d %s; want %d with %q", tt.name, status, body, tt.status, tt.msg)
		}
	}
}

// TestAuthTeams checks tokens limited to a team: they change only jobs labelled with their
// team (and cannot label a job away from it or take another team's), and read everything.
func TestAuthTeams(t *testing.T) {
	t.Parallel()
	f := setup(t)
	secrets := map[string]string{}
	file := "tokens:\n"
	for _, e := range []struct{ name, role, teams string }{
		{"ana", "admin", "[ds]"}, {"fin-bot", "editor", "[fin]"}, {"ops", "admin", "[]"},
	} {
		secret, err := auth.New()
		if err != nil {
			t.Fatal(err)
		}
		secrets[e.name] = secret
		file += "  - {name: " + e.name + ", role: " + e.role + ", teams: " + e.teams + ", sha256: " + auth.Hash(secret) + "}\n"
	}
	tokens, err := auth.Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	f.api.opts.Tokens = tokens
	as := func(name string) []string { return []string{"Authorization", "Bearer " + secrets[name]} }
	dsJob := goodJob + "labels: {team: ds}\n"
	finJob := strings.Replace(goodJob, "nightly", "ledger", 1) + "labels: {team: fin}\n"
	unlabelled := strings.Replace(goodJob, "nightly", "orphan", 1)

	// ops (no teams) sets up one job per team and one without, and one of ds's that runs
	// after fin's.
	bridge := strings.Replace(dsJob, "nightly", "bridge", 1) + "after: [{job: ledger}]\n"
	for _, path := range []string{"nightly", "ledger", "orphan", "bridge"} {
		body := map[string]string{"nightly": dsJob, "ledger": finJob, "orphan": unlabelled, "bridge": bridge}[path]
		if status, resp := f.call(t, "PUT", "/api/v1/jobs/"+path, "application/yaml", body, as("ops")...); status != 201 {
			t.Fatalf("ops applies %s: %d %s", path, status, resp)
		}
	}
	_, body := f.call(t, "POST", "/api/v1/jobs/ledger/runs", "", "", as("ops")...)
	var finRun struct{ ID string }
	json.Unmarshal(body, &finRun)
	// An array run of ds's job, which then passes to fin: a retry makes new runs, which
	// fin's job's team decides, as a submission's.
	moved := strings.Replace(dsJob, "nightly", "moved", 1)
	f.call(t, "PUT", "/api/v1/jobs/moved", "application/yaml", moved, as("ops")...)
	_, body = f.call(t, "POST", "/api/v1/jobs/moved/runs", "application/json", `{"tasks": 2}`, as("ana")...)
	var movedRun struct{ ID string }
	json.Unmarshal(body, &movedRun)
	if status, resp := f.call(t, "PUT", "/api/v1/jobs/moved", "application/yaml", strings.Replace(moved, "team: ds", "team: fin", 1), as("ops")...); status != 201 {
		t.Fatalf("ops moves the job to fin: %d %s", status, resp)
	}

	tests := []struct {
		name, who, method, path, body string
		status                        int
		msg                           string
	}{
		{"reads another team's job", "ana", "GET", "/api/v1/jobs/ledger", "", 200, ""},
		{"changes its team's job", "ana", "PUT", "/api/v1/jobs/nightly", strings.Replace(dsJob, "retries: 2", "retries: 3", 1), 201, ""},
		{"runs its team's job", "ana", "POST", "/api/v1/jobs/nightly/runs", "", 201, ""},
		{"cannot run another team's job", "ana", "POST", "/api/v1/jobs/ledger/runs", "", 403,
			`token \"ana\" may change only jobs labelled team: ds; job \"ledger\" belongs to team \"fin\"`},
		{"cannot run a job without a team", "ana", "POST", "/api/v1/jobs/orphan/runs", "", 403, `job \"orphan\" has no team label`},
		{"cannot take another team's job", "ana", "PUT", "/api/v1/jobs/ledger", strings.Replace(finJob, "team: fin", "team: ds", 1), 403, `belongs to team \"fin\"`},
		{"cannot give its job away", "ana", "PUT", "/api/v1/jobs/nightly", strings.Replace(dsJob, "team: ds", "team: fin", 1), 403, `belongs to team \"fin\"`},
		{"cannot create an unlabelled job", "ana", "PUT", "/api/v1/jobs/fresh", strings.Replace(goodJob, "nightly", "fresh", 1), 403, "has no team label"},
		{"cannot suspend another team's job", "ana", "POST", "/api/v1/jobs/ledger/suspend", "", 403, "belongs to team"},
		{"cannot cancel another team's run", "ana", "POST", "/api/v1/runs/" + finRun.ID + "/cancel", "", 403, "belongs to team"},
		{"cannot retry a run of a job now another team's", "ana", "POST", "/api/v1/runs/" + movedRun.ID + "/retry", "", 403, `job \"moved\" belongs to team \"fin\"`},
		{"cannot report on another team's run", "ana", "POST", "/api/v1/runs/" + finRun.ID + "/report", `{"checkpoint": {"offset": 1}}`, 403, "belongs to team"},
		{"the other team may report on its run", "fin-bot", "POST", "/api/v1/runs/" + finRun.ID + "/report", `{"checkpoint": {"offset": 1}}`, 409, "has not started"},
		{"cannot run its job after another team's", "ana", "PUT", "/api/v1/jobs/follower", strings.Replace(dsJob, "nightly", "follower", 1) + "after: [{job: nightly}, {job: ledger}]\n", 403,
			`after[1].job: a token of teams may make a job run after its teams' jobs only (a job run after cannot be deleted); token \"ana\" may change only jobs labelled team: ds; job \"ledger\" belongs to team \"fin\"`},
		{"runs its job after its team's", "ana", "PUT", "/api/v1/jobs/follower", strings.Replace(dsJob, "nightly", "follower", 1) + "after: [{job: nightly}]\n", 201, ""},
		{"changes its job that an admin of no team made run after another team's", "ana", "PUT", "/api/v1/jobs/bridge",
			strings.Replace(strings.Replace(dsJob, "nightly", "bridge", 1), "retries: 2", "retries: 3", 1) + "after: [{job: ledger}]\n", 201, ""},
		{"cannot delete another team's job", "ana", "DELETE", "/api/v1/jobs/ledger", "", 403, "belongs to team"},
		{"a missing job is still 404", "ana", "POST", "/api/v1/jobs/missing/suspend", "", 404, "not found"},
		{"the other team suspends its job", "fin-bot", "POST", "/api/v1/jobs/ledger/suspend", "", 200, ""},
		{"the other team cancels its run", "fin-bot", "POST", "/api/v1/runs/" + finRun.ID + "/cancel", "", 200, ""},
		{"ana deletes her team's job once nothing runs after it", "ana", "DELETE", "/api/v1/jobs/follower", "", 204, ""},
		{"ana deletes her team's job", "ana", "DELETE", "/api/v1/jobs/nightly", "", 204, ""},
		{"a team's admin cannot set a queue all teams share", "ana", "PUT", "/api/v1/queues/gpu", "max_running: 2\n", 403, "which all teams share"},
		{"an admin of no team sets a queue", "ops", "PUT", "/api/v1/queues/gpu", "max_running: 2\n", 201, ""},
		{"a team's admin cannot delete a queue", "ana", "DELETE", "/api/v1/queues/gpu", "", 403, "which all teams share"},
	}
	for _, tt := range tests {
		status, body := f.call(t, tt.method, tt.path, "application/yaml", tt.body, as(tt.who)...)
		if status != tt.status || !strings.Contains(string(body), tt.msg) {
			t.Errorf("%s: %d %s; want %d with %q", tt.name, status, body, tt.status, tt.msg)
		}
	}
}

func TestAuthCancelNamesTheToken(t *testing.T) {
	t.Parallel()
	f, secrets := setupAuth(t)
	h := []string{"Authorization", "Bearer " + secrets["editor"]}
	f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob, h...)
	_, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "", "", h...)
	var run struct{ ID string }
	json.Unmarshal(body, &run)
	// The token decides who acts, not what the client claims.
	status, body := f.call(t, "POST", "/api/v1/runs/"+run.ID+"/cancel", "", "", append(h, "X-Docket-User", "somebody-else")...)
	if status != 200 || !strings.Contains(string(body), "cancelled by editor-user") {
		t.Errorf("cancel: %d %s", status, body)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	f, secrets := setupAuth(t)
	f.api.limits.Every, f.api.limits.Burst, f.api.opts.RateLimit = 0.001, 3, 0.001
	h := []string{"Authorization", "Bearer " + secrets["viewer"]}
	var statuses []int
	for range 5 {
		status, _ := f.call(t, "GET", "/api/v1/jobs", "", "", h...)
		statuses = append(statuses, status)
	}
	if statuses[2] != 200 || statuses[3] != http.StatusTooManyRequests || statuses[4] != http.StatusTooManyRequests {
		t.Errorf("statuses %v; want three 200s (the burst) then 429s", statuses)
	}
	// Another token has its own allowance.
	if status, _ := f.call(t, "GET", "/api/v1/jobs", "", "", "Authorization", "Bearer "+secrets["editor"]); status != 200 {
		t.Errorf("another token: %d", status)
	}
	// So has each run token.
	tokens := auth.NewRunTokens([]byte("0123456789abcdef0123456789abcdef"))
	f.api.opts.RunTokens = tokens
	statuses = nil
	for range 4 {
		status, _ := f.call(t, "GET", "/api/v1/runs/r1/report", "", "", "Authorization", "Bearer "+tokens.For("r1"))
		statuses = append(statuses, status)
	}
	if statuses[2] != http.StatusNotFound || statuses[3] != http.StatusTooManyRequests {
		t.Errorf("a run token's statuses %v; want three answers (404: no such run) then 429", statuses)
	}
}

func TestWhoami(t *testing.T) {
	t.Parallel()
	open := setup(t)
	if status, body := open.call(t, "GET", "/api/v1/whoami", "", ""); status != 200 || !strings.Contains(string(body), `"auth":false`) || !strings.Contains(string(body), `"role":"admin"`) {
		t.Errorf("whoami without tokens: %d %s", status, body)
	}
	f, secrets := setupAuth(t)
	if status, body := f.call(t, "GET", "/api/v1/whoami", "", "", "Authorization", "Bearer "+secrets["editor"]); status != 200 ||
		!strings.Contains(string(body), `"name":"editor-user"`) || !strings.Contains(string(body), `"role":"editor"`) {
		t.Errorf("whoami as editor: %d %s", status, body)
	}
	if status, _ := f.call(t, "GET", "/api/v1/whoami", "", ""); status != 401 {
		t.Errorf("whoami without a token: %d", status)
	}
}
