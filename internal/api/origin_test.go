package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFrontHosts checks that a server without tokens answers only requests addressed to
// it by an IP address, localhost or a name it was given, so that a page whose name was
// rebound to 127.0.0.1 can neither read nor change anything; and that a server with
// tokens checks the Host only when it was given names.
func TestFrontHosts(t *testing.T) {
	t.Parallel()
	open := setup(t)
	named := setup(t)
	named.api.opts.Hosts = []string{"docket.internal"}
	withTokens, secrets := setupAuth(t)
	namedTokens, namedSecrets := setupAuth(t)
	namedTokens.api.opts.Hosts = []string{"docket.internal"}
	viewer := []string{"Authorization", "Bearer " + secrets["viewer"]}
	namedViewer := []string{"Authorization", "Bearer " + namedSecrets["viewer"]}

	tests := []struct {
		name   string
		f      *fixture
		host   string
		auth   []string
		status int
	}{
		{"loopback address", open, "127.0.0.1:8080", nil, 200},
		{"loopback v6", open, "[::1]:8080", nil, 200},
		{"localhost", open, "localhost:8080", nil, 200},
		{"localhost without a port", open, "localhost", nil, 200},
		{"another address", open, "192.168.1.20:8080", nil, 200},
		{"a rebound name", open, "attacker.example:8080", nil, 421},
		{"a name like localhost", open, "localhost.attacker.example", nil, 421},
		{"a given name", named, "docket.internal:8080", nil, 200},
		{"the given name in capitals", named, "DOCKET.INTERNAL", nil, 200},
		{"not the given name", named, "attacker.example:8080", nil, 421},
		{"any name with tokens", withTokens, "docket.example.com", viewer, 200},
		{"tokens and names given", namedTokens, "attacker.example:8080", namedViewer, 421},
		{"tokens and the name given", namedTokens, "docket.internal", namedViewer, 200},
	}
	for _, tt := range tests {
		for _, path := range []string{"/api/v1/jobs", "/healthz"} {
			status, body := tt.f.call(t, "GET", path, "", "", append([]string{"Host", tt.host}, tt.auth...)...)
			if status != tt.status {
				t.Errorf("%s: GET %s with Host %s: %d %s; want %d", tt.name, path, tt.host, status, body, tt.status)
			}
			var e errorBody
			if status == 421 && (json.Unmarshal(body, &e) != nil || e.Error.Code != "misdirected" || !strings.Contains(e.Error.Message, "--public-host")) {
				t.Errorf("%s: the refusal does not say why: %s", tt.name, body)
			}
		}
	}

	// A rebound page cannot change anything either.
	before := open.snapshot(t)
	if status, body := open.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob, "Host", "attacker.example:8080"); status != 421 {
		t.Errorf("PUT from a rebound name: %d %s", status, body)
	}
	if diff := cmp.Diff(before, open.snapshot(t)); diff != "" {
		t.Errorf("a refused request changed what is stored (-before +after):\n%s", diff)
	}
}

// TestFrontWrites checks that a write a browser sends from another site's page is refused
// (by Origin or Sec-Fetch-Site), and that a write must send its body as JSON or YAML:
// a form or text/plain, which a page sends without the browser asking the server first,
// gets 415. Reads and this server's own pages are unaffected.
func TestFrontWrites(t *testing.T) {
	t.Parallel()
	f := setup(t)
	host := strings.TrimPrefix(f.srv.URL, "http://")
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); status != 201 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	tests := []struct {
		name, method, path, contentType, body string
		header                                []string
		status                                int
		code                                  string
	}{
		{"another site's origin", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{}`, []string{"Origin", "https://attacker.example"}, 403, "cross_origin"},
		{"another site by fetch metadata", "POST", "/api/v1/jobs/nightly/suspend", "", "", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross_origin"},
		{"a sibling site", "POST", "/api/v1/jobs/nightly/suspend", "", "", []string{"Sec-Fetch-Site", "same-site"}, 403, "cross_origin"},
		{"an opaque origin", "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob, []string{"Origin", "null"}, 403, "cross_origin"},
		{"a cross-site delete", "DELETE", "/api/v1/jobs/nightly", "", "", []string{"Origin", "http://attacker.example:" + strings.Split(host, ":")[1]}, 403, "cross_origin"},
		{"a form", "POST", "/api/v1/jobs/nightly/runs", "application/x-www-form-urlencoded", `{"env":{"A":"1"}}`, nil, 415, "unsupported_media_type"},
		{"text/plain", "POST", "/api/v1/jobs/nightly/runs", "text/plain", `{"env":{"A":"1"}}`, nil, 415, "unsupported_media_type"},
		{"multipart", "POST", "/api/v1/jobs/nightly/runs", "multipart/form-data; boundary=x", "--x--", nil, 415, "unsupported_media_type"},
		{"text/plain without a body", "POST", "/api/v1/jobs/nightly/suspend", "text/plain", "", nil, 415, "unsupported_media_type"},
		{"a body without a type", "POST", "/api/v1/jobs/nightly/runs", "", `{"env":{"A":"1"}}`, nil, 415, "unsupported_media_type"},
		{"a YAML definition as text/plain", "PUT", "/api/v1/jobs/nightly", "text/plain", goodJob, nil, 415, "unsupported_media_type"},
		{"a report as a form without a token", "POST", "/api/v1/runs/r1/report", "application/x-www-form-urlencoded", `{"metrics":{"a":1}}`, nil, 415, "unsupported_media_type"},
	}
	before := f.snapshot(t)
	for _, tt := range tests {
		status, body := f.call(t, tt.method, tt.path, tt.contentType, tt.body, tt.header...)
		var e errorBody
		if err := json.Unmarshal(body, &e); err != nil || status != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
			t.Errorf("%s: %d %s; want %d %s with a message", tt.name, status, body, tt.status, tt.code)
		}
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("refused writes changed what is stored (-before +after):\n%s", diff)
	}

	// The server's own pages, programs and every read pass.
	for _, tt := range []struct {
		name, method, path, contentType, body string
		header                                []string
		status                                int
	}{
		{"a read from another site", "GET", "/api/v1/jobs", "", "", []string{"Origin", "https://attacker.example", "Sec-Fetch-Site", "cross-site"}, 200},
		{"its own page", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"trigger":"manual"}`, []string{"Origin", "http://" + host, "Sec-Fetch-Site", "same-origin"}, 201},
		{"its own page, an older browser", "POST", "/api/v1/jobs/nightly/suspend", "", "", []string{"Origin", "http://" + host}, 200},
		{"a program", "POST", "/api/v1/jobs/nightly/resume", "", "", nil, 200},
		{"a program, JSON with a charset", "POST", "/api/v1/jobs/nightly/runs", "application/json; charset=utf-8", `{}`, nil, 201},
		{"a request the user made (Sec-Fetch-Site none)", "POST", "/api/v1/jobs/nightly/runs", "", "", []string{"Sec-Fetch-Site", "none"}, 201},
	} {
		if status, body := f.call(t, tt.method, tt.path, tt.contentType, tt.body, tt.header...); status != tt.status {
			t.Errorf("%s: %d %s; want %d", tt.name, status, body, tt.status)
		}
	}
}

// TestAWSPathsRefusedAsAWS: a request for the AWS Batch face that the host check refuses
// is answered as AWS clients read errors.
func TestAWSPathsRefusedAsAWS(t *testing.T) {
	t.Parallel()
	f := setup(t)
	req, err := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/submitjob", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "attacker.example"
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("X-Amzn-ErrorType") != "ClientException" || !strings.Contains(body["message"], "attacker.example") {
		t.Errorf("%d %s %v", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), body)
	}
}
