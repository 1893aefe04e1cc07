package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

const queuesFile = `kind: Queue
name: two
max_running: 2
---
kind: Queue
name: one
max_running: 1
---
kind: Queue
name: slow
max_starts_per_second: 0.2
---
name: sleeper
image: busybox
command: ["sleep", "1"]
cpu: 100m
memory: 16Mi
concurrency: allow
queue: two
---
name: single
image: busybox
command: ["sleep", "1"]
cpu: 100m
memory: 16Mi
concurrency: allow
queue: one
---
name: quick
image: busybox
command: ["true"]
cpu: 100m
memory: 16Mi
concurrency: allow
queue: slow
---
name: echo
image: busybox
command: ["sh", "-c", "echo lr={{ .Params.lr }} env=$DOCKET_PARAM_LR date={{ .Params.date }}"]
cpu: 100m
memory: 16Mi
concurrency: allow
params: {lr: "0.01", date: ""}
`

// sampleActive polls the API until stop is closed and returns the most runs of job it
// saw active (dispatched, pending or running) at once.
func sampleActive(s *server, query string, stop <-chan struct{}) <-chan int {
	out := make(chan int, 1)
	go func() {
		most := 0
		for {
			select {
			case <-stop:
				out <- most
				return
			case <-time.After(50 * time.Millisecond):
			}
			var page struct{ Runs []job.Run }
			s.api("GET", "/api/v1/runs?limit=1000&state=dispatched,pending,running&"+query, "", &page)
			most = max(most, len(page.Runs))
		}
	}()
	return out
}

// TestQueues runs jobs through queues on a real server: a queue of 2 never has more than
// 2 runs active however many are queued; a high-priority run submitted last starts
// before the low ones still queued; a run not moving says why; params reach the command
// and the env; dry runs store nothing; a file with a document refused applies none.
func TestQueues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, filepath.Join(dir, "data"), "--executor", "process", "--parallelism", "8", "--retry-backoff", "1m")
	file := writeFile(t, dir, "queues.yaml", queuesFile)
	if out, errOut, code := s.cli("apply", "-f", file); code != 0 || !strings.Contains(out, "queue two created") {
		t.Fatalf("apply: exit %d %s %s", code, out, errOut)
	}

	t.Run("apply whole or none", func(t *testing.T) {
		// The second document names a queue that does not exist: the first is not applied.
		bad := writeFile(t, dir, "bad.yaml", "name: lonely\nimage: busybox\ncommand: [\"true\"]\ncpu: 100m\nmemory: 16Mi\n---\n"+
			"name: strays\nimage: busybox\ncommand: [\"true\"]\ncpu: 100m\nmemory: 16Mi\nqueue: nope\n")
		if _, errOut, code := s.cli("apply", "-f", bad); code != 1 || !strings.Contains(errOut, `(document 2): queue: queue "nope" does not exist`) || !strings.Contains(errOut, "(nothing in "+bad+" was applied)") {
			t.Errorf("apply of a file with a refused document: exit %d %s", code, errOut)
		}
		if out, errOut, code := s.cli("jobs"); code != 0 || strings.Contains(out, "lonely") {
			t.Errorf("jobs after the refused file: exit %d %s %s", code, out, errOut)
		}
		// A file that turns its own jobs' after: around is checked against its own
		// versions of them, not the stored ones (which would form a cycle with it).
		job := func(name, after string) string {
			return "name: " + name + "\nimage: busybox\ncommand: [\"true\"]\ncpu: 100m\nmemory: 16Mi\n" + after + "---\n"
		}
		one := writeFile(t, dir, "one.yaml", job("up", "")+job("down", "after: [{job: up}]\n"))
		turned := writeFile(t, dir, "turned.yaml", job("down", "")+job("up", "after: [{job: down}]\n"))
		for _, file := range []string{one, turned} {
			if out, errOut, code := s.cli("apply", "-f", file); code != 0 {
				t.Errorf("apply %s: exit %d %s %s", filepath.Base(file), code, out, errOut)
			}
		}
	})

	t.Run("max_running", func(t *testing.T) {
		stop := make(chan struct{})
		most := sampleActive(s, "job=sleeper", stop)
		var runs []job.Run
		for range 10 {
			runs = append(runs, s.submit("sleeper"))
		}
		waitFor(t, 10*time.Second, "a run waiting for the full queue to say so", func() bool {
			return s.run(runs[9].ID).WaitingFor == "queue two is full (2 of 2 running)"
		})
		out, _, code := s.cli("queues")
		if code != 0 || !strings.Contains(out, "two") {
			t.Errorf("docket queues: exit %d\n%s", code, out)
		}
		for _, r := range runs {
			if got := s.waitTerminal(r.ID, 30*time.Second); got.State != job.StateSucceeded {
				t.Errorf("run %s %s: %s", r.ID, got.State, got.Message)
			}
		}
		close(stop)
		if n := <-most; n > 2 || n == 0 {
			t.Errorf("at most %d runs of queue two were seen active at once; want 2", n)
		}
	})

	t.Run("priority", func(t *testing.T) {
		var low []job.Run
		for range 4 {
			low = append(low, s.submit("single"))
		}
		var high job.Run
		if status := s.api("POST", "/api/v1/jobs/single/runs", `{"priority": 900}`, &high); status != 201 {
			t.Fatalf("submit with priority: %d", status)
		}
		high = s.waitTerminal(high.ID, 30*time.Second)
		for _, r := range low {
			r = s.waitTerminal(r.ID, 30*time.Second)
			if r.StartedAt.Before(*high.StartedAt) && r.ID != low[0].ID {
				t.Errorf("low-priority run %s started at %v, before the high-priority one at %v", r.ID, r.StartedAt, high.StartedAt)
			}
		}
	})

	t.Run("disabled", func(t *testing.T) {
		if out, errOut, code := s.cli("queues", "set", "one", "--disable"); code != 0 || !strings.Contains(out, "queue one set (disabled, max running 1,") {
			t.Fatalf("queues set --disable: exit %d %s%s", code, out, errOut)
		}
		held := s.submit("single")
		time.Sleep(1500 * time.Millisecond) // longer than the dispatcher's poll
		if got := s.run(held.ID); got.State != job.StateQueued || got.WaitingFor != "queue one is disabled" {
			t.Fatalf("a run of a disabled queue: %s, waiting for %q", got.State, got.WaitingFor)
		}
		out, _, code := s.cli("queues")
		if line := between(out, "\none ", "\n"); code != 0 || !strings.HasPrefix(strings.TrimSpace(line), "disabled") || !strings.Contains(out, "STATE") {
			t.Errorf("docket queues does not show queue one disabled: exit %d\n%s", code, out)
		}
		if out, _, _ := s.cli("queues", "-o", "json"); !strings.Contains(out, `"disabled": true`) {
			t.Errorf("docket queues -o json does not carry the state:\n%s", out)
		}
		if _, _, code := s.cli("queues", "set", "one", "--disable", "--enable"); code == 0 {
			t.Error("queues set --disable --enable was taken")
		}
		if out, errOut, code := s.cli("queues", "set", "one", "--enable"); code != 0 || !strings.Contains(out, "queue one set (enabled, max running 1,") {
			t.Fatalf("queues set --enable: exit %d %s%s", code, out, errOut)
		}
		if got := s.waitTerminal(held.ID, 10*time.Second); got.State != job.StateSucceeded {
			t.Errorf("the held run once its queue is enabled: %s %s", got.State, got.Message)
		}
	})

	t.Run("waiting_for", func(t *testing.T) {
		first, second := s.submit("quick"), s.submit("quick")
		s.waitTerminal(first.ID, 10*time.Second)
		if got := s.run(second.ID); got.State == job.StateQueued && got.WaitingFor != "queue slow is rate limited (0.2 starts a second)" {
			t.Errorf("the second run of a queue of 0.2 starts a second waits for %q", got.WaitingFor)
		}
		if _, errOut, code := s.cli("suspend", "echo"); code != 0 {
			t.Fatalf("suspend: %s", errOut)
		}
		var held job.Run
		s.api("POST", "/api/v1/jobs/echo/runs", `{"params": {"date": "2026-11-23"}}`, &held)
		time.Sleep(500 * time.Millisecond)
		if got := s.run(held.ID); got.State != job.StateQueued || got.WaitingFor != "job is suspended" {
			t.Errorf("a run of a suspended job: %s, waiting for %q", got.State, got.WaitingFor)
		}
		if out, _, _ := s.cli("describe", "run", held.ID); !strings.Contains(out, "job is suspended") {
			t.Errorf("describe run does not say what the run waits for:\n%s", out)
		}
		if out, errOut, code := s.cli("run", "echo", "--param", "date=2026-11-23"); code != 0 || !strings.Contains(out, " queued\n") ||
			errOut != "it waits while job echo is suspended (docket resume echo)\n" {
			t.Errorf("docket run of a suspended job: exit %d\n%s%s", code, out, errOut)
		}
		if _, errOut, code := s.cli("resume", "echo"); code != 0 {
			t.Fatalf("resume: %s", errOut)
		}
		s.waitTerminal(held.ID, 10*time.Second)
	})

	t.Run("params", func(t *testing.T) {
		out, errOut, code := s.cli("run", "echo", "--param", "lr=0.1", "--param", "date=2026-11-23", "-o", "json")
		if code != 0 {
			t.Fatalf("run: exit %d %s", code, errOut)
		}
		id := between(out, `"id": "`, `"`)
		r := s.waitTerminal(id, 10*time.Second)
		if r.State != job.StateSucceeded || r.Params["lr"] != "0.1" {
			t.Fatalf("run: %s, params %v", r.State, r.Params)
		}
		if got, want := s.logs(id), "lr=0.1 env=0.1 date=2026-11-23\n"; got != want {
			t.Errorf("the job saw %q; want %q", got, want)
		}
		if _, errOut, code := s.cli("run", "echo", "--param", "epochs=3"); code == 0 || !strings.Contains(errOut, "epochs") {
			t.Errorf("an unknown param: exit %d %s", code, errOut)
		}
		if _, errOut, code := s.cli("run", "echo"); code == 0 || !strings.Contains(errOut, "date") {
			t.Errorf("a missing param: exit %d %s", code, errOut)
		}
	})

	t.Run("a step's own queue", func(t *testing.T) {
		wf := writeFile(t, dir, "staged.yaml", `name: staged
image: busybox
command: ["true"]
cpu: 100m
memory: 16Mi
steps:
  - {name: prep}
  - {name: fit, needs: [prep], queue: one}
`)
		if out, errOut, code := s.cli("apply", "-f", wf); code != 0 {
			t.Fatalf("apply a workflow whose step names a queue: exit %d %s%s", code, out, errOut)
		}
		r := s.waitTerminal(s.submit("staged").ID, 30*time.Second)
		if r.State != job.StateSucceeded {
			t.Fatalf("workflow run %s: %s", r.State, r.Message)
		}
		queues := map[string]string{}
		for _, c := range s.allRuns("parent=" + r.ID) {
			queues[c.Step] = c.Queue
		}
		if queues["prep"] != "" || queues["fit"] != "one" {
			t.Errorf("the steps' queues: %v; want prep in the default queue, fit in one", queues)
		}
	})

	t.Run("set keeps what it is not told", func(t *testing.T) {
		out, errOut, code := s.cli("queues", "set", "two", "--priority", "5")
		if code != 0 || !strings.Contains(out, "queue two set (enabled, max running 2, max starts/s -, priority 5)") {
			t.Errorf("queues set --priority: exit %d %s%s", code, out, errOut)
		}
		if _, errOut, code := s.cli("queues", "delete", "two"); code == 0 || !strings.Contains(errOut, "sleeper") {
			t.Errorf("deleting a queue a job names: exit %d %s", code, errOut)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		before := len(s.allRuns(""))
		changed := writeFile(t, dir, "changed.yaml", strings.Replace(queuesFile, `command: ["sleep", "1"]
cpu: 100m
memory: 16Mi
concurrency: allow
queue: two`, `command: ["sleep", "2"]
cpu: 100m
memory: 16Mi
concurrency: allow
queue: two`, 1))
		out, errOut, code := s.cli("apply", "-f", changed, "--dry-run")
		if code != 0 || !strings.Contains(out, "job sleeper: changed (revision 2)") || !strings.Contains(out, `command: ["sleep","1"] -> ["sleep","2"]`) ||
			!strings.Contains(out, "job echo: unchanged") || !strings.Contains(out, "queue one: unchanged") ||
			!strings.Contains(out, "queue two: changed (enabled, max running 2, max starts/s -, priority 0)\n  priority: 5 -> 0\n") { // set to priority 5 above
			t.Errorf("apply --dry-run: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code = s.cli("run", "echo", "--param", "date=2026-11-23", "--dry-run")
		if code != 0 || !strings.Contains(out, "lr=0.01 env=$DOCKET_PARAM_LR date=2026-11-23") || !strings.Contains(out, "DOCKET_PARAM_LR=0.01") {
			t.Errorf("run --dry-run: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code = s.cli("run", "echo", "--param", "date=2026-11-23", "--array", "3", "--dry-run")
		if code != 0 || !strings.Contains(out, "3 tasks; task 0 is shown below") || !strings.Contains(out, "DOCKET_TASK_COUNT=3") ||
			!strings.Contains(out, "DOCKET_TASK_INDEX=0") {
			t.Errorf("run --array 3 --dry-run: exit %d\n%s%s", code, out, errOut)
		}
		in := writeFile(t, dir, "in.csv", "id,score\n1,0.5\n")
		out, errOut, code = s.cli("run", "echo", "--param", "date=2026-11-23", "--file", in, "--dry-run")
		if code != 0 || !strings.Contains(out, "Files:      1 file, 15 bytes: in.csv\n") || !strings.Contains(out, "Env:        DOCKET_INPUTS=(the run's working directory)\n") ||
			!strings.Contains(errOut, "no file was sent") {
			t.Errorf("run --file --dry-run: exit %d\n%s%s", code, out, errOut)
		}
		out, errOut, code = s.cli("run", "echo", "--param", "date=2026-11-23", "--file", in, "--dry-run", "-o", "json")
		var preview struct {
			DryRun bool `json:"dry_run"`
			Files  []job.File
		}
		if err := json.Unmarshal([]byte(out), &preview); code != 0 || err != nil || !preview.DryRun || len(preview.Files) != 1 || preview.Files[0].Path != "in.csv" || preview.Files[0].Size != 15 {
			t.Errorf("run --file --dry-run -o json: exit %d %v\n%s%s", code, err, out, errOut)
		}
		sum := sha256.Sum256([]byte("id,score\n1,0.5\n"))
		if status := s.api("GET", "/api/v1/blobs/"+hex.EncodeToString(sum[:]), "", nil); status != http.StatusNotFound {
			t.Errorf("after a dry run, the file's blob: %d; want 404, not sent", status)
		}
		if _, errOut, code := s.cli("run", "echo", "--file", filepath.Join(dir, "no-such.csv"), "--dry-run"); code == 0 || !strings.Contains(errOut, "no-such.csv") {
			t.Errorf("run --dry-run of a file that is not there: exit %d %s", code, errOut)
		}
		var def struct{ Revision int }
		s.api("GET", "/api/v1/jobs/sleeper", "", &def)
		if after := len(s.allRuns("")); after != before || def.Revision != 1 {
			t.Errorf("dry runs stored something: %d runs, then %d; sleeper at revision %d", before, after, def.Revision)
		}
	})
}

// between returns the text of s between the first before and the after that follows it.
func between(s, before, after string) string {
	_, rest, _ := strings.Cut(s, before)
	v, _, _ := strings.Cut(rest, after)
	return v
}

// TestQueueReplicas runs two servers on one PostgreSQL database: a queue's max_running
// holds across them.
func TestQueueReplicas(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	dir := t.TempDir()
	flags := []string{"--database-url", url, "--executor", "process", "--parallelism", "4"}
	a := startServer(t, filepath.Join(dir, "a"), flags...)
	b := startServer(t, filepath.Join(dir, "b"), flags...)
	file := writeFile(t, dir, "q.yaml", queuesFile)
	if _, errOut, code := a.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	stop := make(chan struct{})
	most := sampleActive(a, "job=sleeper", stop)
	var (
		runs []job.Run
		mu   sync.Mutex
	)
	for i := range 8 {
		srv := []*server{a, b}[i%2]
		r := srv.submit("sleeper")
		mu.Lock()
		runs = append(runs, r)
		mu.Unlock()
	}
	claimers := map[string]bool{}
	for _, r := range runs {
		got := a.waitTerminal(r.ID, 30*time.Second)
		if got.State != job.StateSucceeded {
			t.Errorf("run %s %s: %s", r.ID, got.State, got.Message)
		}
		claimers[got.ClaimedBy] = true
	}
	close(stop)
	if n := <-most; n > 2 || n == 0 {
		t.Errorf("at most %d runs of queue two were seen active at once across two servers; want 2", n)
	}
	t.Logf("runs claimed by %d servers", len(claimers))
}

// kubectl returns the kubectl of the test control plane's binaries, or skips.
func kubectl(t *testing.T) string {
	dir := os.Getenv("DOCKET_KUBE_BIN")
	if dir == "" {
		cache := os.Getenv("DOCKET_KUBE_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "docket", "kube-v1.33.13")
		}
		dir = filepath.Join(cache, "bin")
	}
	path := filepath.Join(dir, "kubectl")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no kubectl in %s (set DOCKET_KUBE_BIN; scripts/kube build prints it)", dir)
	}
	return path
}

// TestRunDryRunKube prints the Job a run would create on the Kubernetes executor and has
// the test control plane's API server check it (kubectl apply --dry-run=server).
func TestRunDryRunKube(t *testing.T) {
	t.Parallel()
	kc := kubectl(t)
	client := kubetest.Client(t)
	namespace := kubetest.Namespace(t, client)
	file := writeFile(t, t.TempDir(), "train.yaml", `name: train
image: registry.example.com/ds/train:1.4.2
command: ["python", "train.py", "--lr", "{{ .Params.lr }}"]
cpu: 500m
memory: 64Mi
params: {lr: "0.01"}
`)
	srv := startServer(t, t.TempDir(), "--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "--namespace", namespace)
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	manifest, errOut, code := srv.cli("run", "train", "--param", "lr=0.1", "--dry-run", "-o", "yaml")
	if code != 0 || !strings.Contains(manifest, "kind: Job") || !strings.Contains(manifest, "- \"0.1\"") {
		t.Fatalf("run --dry-run -o yaml: exit %d\n%s%s", code, manifest, errOut)
	}
	serverDryRun := func(manifest string) {
		t.Helper()
		cmd := exec.Command(kc, "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "apply", "--dry-run=server", "-f", "-")
		cmd.Stdin = strings.NewReader(manifest)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "(server dry run)") {
			t.Fatalf("kubectl apply --dry-run=server: %v\n%s\nmanifest:\n%s", err, out.String(), manifest)
		}
	}
	serverDryRun(manifest)
	// An array's is its one Indexed Job.
	manifest, errOut, code = srv.cli("run", "train", "--array", "50", "--parallelism", "5", "--dry-run", "-o", "yaml")
	if code != 0 || !strings.Contains(manifest, "completionMode: Indexed") || !strings.Contains(manifest, "completions: 50") {
		t.Fatalf("run --array --dry-run -o yaml: exit %d\n%s%s", code, manifest, errOut)
	}
	serverDryRun(manifest)
	// A run with input files: the init container that fetches them, and $DOCKET_INPUTS.
	in := writeFile(t, t.TempDir(), "in.csv", "id\n1\n")
	manifest, errOut, code = srv.cli("run", "train", "--file", in, "--dry-run", "-o", "yaml")
	if code != 0 || !strings.Contains(manifest, "initContainers:") || !strings.Contains(manifest, "value: /docket/inputs") {
		t.Fatalf("run --file --dry-run -o yaml: exit %d\n%s%s", code, manifest, errOut)
	}
	serverDryRun(manifest)
	if runs := srv.allRuns(""); len(runs) != 0 {
		t.Errorf("a dry run stored %d runs", len(runs))
	}
	jobs, err := exec.Command(kc, "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "get", "jobs", "-n", namespace, "-o", "name").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(jobs)) != 0 {
		t.Errorf("Jobs in the namespace after a dry run: %s %v", jobs, err)
	}
}
