package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTokens starts a server with a tokens file made by docket token new and drives it
// with the docket command under each role, by DOCKET_TOKEN and by the config file.
func TestTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	type made struct{ Name, Role, Token, SHA256 string }
	tokens := map[string]made{}
	file := "tokens:\n"
	for _, role := range []string{"viewer", "editor"} {
		out, errOut, code := docket(t, nil, "token", "new", "--name", "ana-"+role, "--role", role, "-o", "json")
		var m made
		if code != 0 || json.Unmarshal([]byte(out), &m) != nil || m.Token == "" {
			t.Fatalf("token new: exit %d %s %s", code, out, errOut)
		}
		tokens[role] = m
		file += "  - {name: " + m.Name + ", role: " + m.Role + ", sha256: " + m.SHA256 + "}\n"
	}
	// docket token hash agrees with the hash token new printed.
	hash := exec.Command(binary, "token", "hash")
	hash.Stdin = strings.NewReader(tokens["editor"].Token + "\n")
	if out, err := hash.Output(); err != nil || strings.TrimSpace(string(out)) != tokens["editor"].SHA256 {
		t.Errorf("token hash = %q, %v; want %s", out, err, tokens["editor"].SHA256)
	}
	tokensFile := writeFile(t, dir, "tokens.yaml", file)
	s := startServer(t, dir+"/data", "--tokens-file", tokensFile)
	jobs := writeFile(t, dir, "jobs.yaml", "name: hello\nimage: busybox\ncommand: [\"echo\", \"hi\"]\ncpu: 100m\nmemory: 64Mi\n")
	as := func(env []string, args ...string) (string, string, int) {
		return docket(t, append(env, "DOCKET_SERVER="+s.URL, "DOCKET_CONFIG="+dir+"/none.yaml"), args...)
	}
	viewer := []string{"DOCKET_TOKEN=" + tokens["viewer"].Token}
	editor := []string{"DOCKET_TOKEN=" + tokens["editor"].Token}

	if _, errOut, code := as(nil, "jobs"); code != 1 || !strings.Contains(errOut, "this server needs an API token") {
		t.Errorf("jobs without a token: exit %d %s", code, errOut)
	}
	if _, errOut, code := as(viewer, "apply", "-f", jobs); code != 1 || !strings.Contains(errOut, "has the role viewer; PUT /api/v1/jobs/hello needs editor") {
		t.Errorf("apply as viewer: exit %d %s", code, errOut)
	}
	if out, errOut, code := as(editor, "apply", "-f", jobs); code != 0 {
		t.Fatalf("apply as editor: exit %d %s %s", code, out, errOut)
	}
	if out, errOut, code := as(editor, "run", "hello", "--wait", "--logs"); code != 0 || !strings.Contains(out, "hi\n") {
		t.Errorf("run as editor: exit %d %s %s", code, out, errOut)
	}
	if _, errOut, code := as(editor, "delete", "job", "hello"); code != 1 || !strings.Contains(errOut, "needs admin") {
		t.Errorf("delete as editor: exit %d %s", code, errOut)
	}
	// The token from the config file, when DOCKET_TOKEN is unset.
	config := writeFile(t, dir, "config.yaml", "server: "+s.URL+"\ntoken: "+tokens["viewer"].Token+"\n")
	if out, errOut, code := docket(t, []string{"DOCKET_CONFIG=" + config, "DOCKET_SERVER=", "DOCKET_TOKEN="}, "jobs"); code != 0 || !strings.Contains(out, "hello") {
		t.Errorf("jobs with the config file's token: exit %d %s %s", code, out, errOut)
	}

	// SIGHUP reloads the file: without the viewer's entry, its token is refused at once.
	writeFile(t, dir, "tokens.yaml", "tokens:\n  - {name: ana-editor, role: editor, sha256: "+tokens["editor"].SHA256+"}\n")
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, "the reloaded tokens file to refuse the viewer", func() bool {
		_, errOut, code := as(viewer, "jobs")
		return code == 1 && strings.Contains(errOut, "not one this server knows")
	})
	if out, errOut, code := as(editor, "jobs"); code != 0 || !strings.Contains(out, "hello") {
		t.Errorf("jobs as editor after the reload: exit %d %s %s", code, out, errOut)
	}
	if !strings.Contains(s.Log(), "tokens file reloaded") {
		t.Errorf("the server did not log the reload:\n%s", s.Log())
	}
	// Tokens on the process executor, whose commands run as the server's user, are warned of.
	if !strings.Contains(s.Log(), "the process executor runs each job's command as the server's own user") {
		t.Errorf("the server did not warn that the process executor isolates no job:\n%s", s.Log())
	}
}

// TestOtherSites checks that a server without tokens cannot be driven by a web page of
// another site: a page whose name was rebound to 127.0.0.1 (Host: attacker.example) is
// answered 421, a cross-site write is refused by its Origin, and a text/plain body (which
// a page may send without the browser asking first) gets 415. The names given with
// --public-host, and the docket command, are served.
func TestOtherSites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--public-host", "docket.test")
	port := s.URL[strings.LastIndex(s.URL, ":")+1:]
	job := `{"image":"busybox","command":["sh","-c","touch ` + dir + `/pwned"],"cpu":"100m","memory":"64Mi"}`
	var e struct {
		Error struct{ Code, Message string }
	}
	if status := s.api("PUT", "/api/v1/jobs/rebound", job, &e, "Host", "attacker.example:"+port); status != 421 || !strings.Contains(e.Error.Message, "--public-host") {
		t.Errorf("PUT from a rebound name: %d %+v", status, e)
	}
	if status := s.api("GET", "/api/v1/jobs", "", &e, "Host", "attacker.example:"+port); status != 421 {
		t.Errorf("GET from a rebound name: %d", status)
	}
	if status := s.api("PUT", "/api/v1/jobs/named", job, nil, "Host", "docket.test:"+port); status != 201 {
		t.Errorf("PUT by the public host's name: %d", status)
	}
	if status := s.api("POST", "/api/v1/jobs/named/runs", `{}`, &e, "Origin", "http://attacker.example:"+port); status != 403 || e.Error.Code != "cross_origin" {
		t.Errorf("a cross-site submission: %d %+v", status, e)
	}
	if status := s.api("POST", "/api/v1/jobs/named/runs", `{}`, &e, "Content-Type", "text/plain"); status != 415 {
		t.Errorf("a text/plain submission: %d %+v", status, e)
	}
	if runs := s.allRuns(""); len(runs) != 0 {
		t.Errorf("refused requests started %d runs", len(runs))
	}
	if out, errOut, code := s.cli("jobs"); code != 0 || !strings.Contains(out, "named") || strings.Contains(out, "rebound") {
		t.Errorf("docket jobs: exit %d %s %s", code, out, errOut)
	}
}
