// Package e2e tests the real docket binary: it builds it, starts servers on temporary data
// directories, and drives them through the CLI and the HTTP API.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// binary is the docket binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "docket-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "docket")
	build := exec.Command("go", "build", "-o", binary, "docket.dev/docket/cmd/docket")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build docket:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is one running `docket server` process.
type server struct {
	t testing.TB
	// token, when set, is sent with every API request the test makes.
	token string
	cmd   *exec.Cmd
	URL   string
	mu    sync.Mutex
	log   bytes.Buffer
	done  chan struct{}
}

var listening = regexp.MustCompile(`docket server listening on (http://\S+)`)

// forEachStore runs test against a server on each store: SQLite (the embedded default) and
// PostgreSQL (in a schema of its own, when a test server is configured; see pgtest). The
// test gets the flags that select the store.
func forEachStore(t *testing.T, test func(t *testing.T, storeFlags []string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		test(t, []string{"--database-url", pgtest.URL(t)})
	})
}

// startServer starts docket server on dataDir with extra flags and waits until it serves.
func startServer(t testing.TB, dataDir string, flags ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, dataDir, flags...)
}

// startServerEnv is startServer with variables added to the server's environment.
func startServerEnv(t testing.TB, env []string, dataDir string, flags ...string) *server {
	t.Helper()
	return startServerIn(t, "", env, dataDir, flags...)
}

// startServerIn is startServerEnv with the server started in the directory cwd ("" this
// process's), where a relative dataDir is.
func startServerIn(t testing.TB, cwd string, env []string, dataDir string, flags ...string) *server {
	t.Helper()
	args := append([]string{"server", "--data-dir", dataDir, "--addr", "127.0.0.1:0", "--schedule-interval", "200ms"}, flags...)
	s := &server{t: t, cmd: exec.Command(binary, args...), done: make(chan struct{})}
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Dir = cwd
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
		if t.Failed() {
			t.Logf("server log:\n%s", s.Log())
		}
	})
	select {
	case s.URL = <-addr:
	case <-s.done:
		t.Fatalf("server exited before serving:\n%s", s.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not start:\n%s", s.Log())
	}
	return s
}

// Log returns what the server logged so far.
func (s *server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Kill9 kills the server with SIGKILL, as a crash would.
func (s *server) Kill9() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// Stop asks the server to shut down and waits for it.
func (s *server) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.t.Fatalf("server did not stop on SIGTERM:\n%s", s.Log())
	}
}

// cli runs the docket command against s and returns stdout, stderr and the exit code.
func (s *server) cli(args ...string) (string, string, int) {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "DOCKET_SERVER="+s.URL)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("docket %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// api sends a request to s and decodes a JSON answer into out; it returns the status.
func (s *server) api(method, path string, body string, out any, header ...string) int {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			s.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

// submit starts a run of the job name on request, as POST /api/v1/jobs/{name}/runs does.
func (s *server) submit(name string) job.Run {
	s.t.Helper()
	var r job.Run
	if status := s.api("POST", "/api/v1/jobs/"+name+"/runs", `{}`, &r); status != 201 {
		s.t.Fatalf("submit a run of %s: status %d", name, status)
	}
	return r
}

func (s *server) run(id string) job.Run {
	var r job.Run
	if status := s.api("GET", "/api/v1/runs/"+id, "", &r); status != 200 {
		s.t.Fatalf("GET run %s: %d", id, status)
	}
	return r
}

func (s *server) events(id string) []job.Event {
	var out struct{ Events []job.Event }
	s.api("GET", "/api/v1/runs/"+id+"/events", "", &out)
	return out.Events
}

func (s *server) logs(id string) string {
	resp, err := http.Get(s.URL + "/api/v1/runs/" + id + "/logs")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}

// allRuns lists every run, following the pages.
func (s *server) allRuns(query string) []job.Run {
	var all []job.Run
	cursor := ""
	for {
		var page struct {
			Runs []job.Run `json:"runs"`
			Next string    `json:"next_cursor"`
		}
		s.api("GET", "/api/v1/runs?limit=1000&"+query+"&cursor="+cursor, "", &page)
		all = append(all, page.Runs...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitTerminal waits for a run to finish and returns it.
func (s *server) waitTerminal(id string, timeout time.Duration) job.Run {
	s.t.Helper()
	var r job.Run
	waitFor(s.t, timeout, "run "+id+" to finish", func() bool {
		r = s.run(id)
		return r.State.Terminal()
	})
	return r
}

// settle waits until no run is queued or active and returns every run.
func (s *server) settle(timeout time.Duration) []job.Run {
	s.t.Helper()
	waitFor(s.t, timeout, "every run to finish", func() bool {
		return len(s.allRuns("state=queued,dispatched,pending,running")) == 0
	})
	return s.allRuns("")
}

// readLedger counts the run ids that test jobs appended to a ledger file as they started:
// the world's record of what ran, independent of Docket's.
func readLedger(t *testing.T, path string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	for _, id := range strings.Fields(string(data)) {
		ran[id]++
	}
	return ran
}

// checkEverySecond checks that slots, from the first to the last, are one second apart:
// every slot of an @every 1s schedule has exactly one run, none lost, none doubled.
func checkEverySecond(t *testing.T, what string, slots []time.Time) {
	t.Helper()
	sort.Slice(slots, func(i, j int) bool { return slots[i].Before(slots[j]) })
	for i := 1; i < len(slots); i++ {
		if d := slots[i].Sub(slots[i-1]); d != time.Second {
			t.Errorf("%s: slots %v and %v are %v apart, want 1s", what, slots[i-1], slots[i], d)
		}
	}
}

// states lists the state changes among a run's events.
func states(events []job.Event) []job.State {
	var out []job.State
	for _, ev := range events {
		if len(out) == 0 || out[len(out)-1] != ev.State {
			out = append(out, ev.State)
		}
	}
	return out
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokensFile makes a token with docket token new and writes a tokens file in dir that
// holds it alone; it returns the token and the file's path.
func tokensFile(t *testing.T, dir, name, role string) (token, path string) {
	t.Helper()
	out, errOut, code := docket(t, nil, "token", "new", "--name", name, "--role", role, "-o", "json")
	var tok struct{ Token, SHA256 string }
	if code != 0 || json.Unmarshal([]byte(out), &tok) != nil || tok.Token == "" {
		t.Fatalf("token new: exit %d %s %s", code, out, errOut)
	}
	return tok.Token, writeFile(t, dir, "tokens.yaml", "tokens:\n  - {name: "+name+", role: "+role+", sha256: "+tok.SHA256+"}\n")
}
