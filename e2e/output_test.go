package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"docket.dev/docket/internal/execute/kube/kubetest"
	"docket.dev/docket/internal/job"
)

// roundTripJobs are definitions whose values YAML would read as something else unless
// quoted, and one that leaves every default to the server.
const roundTripJobs = `name: train
image: registry.example.com/ds/train:1.4.2
command: ["python", "train.py", "--date", "{{ .ScheduledDate }}", "yes", "0755", "2026-01-01", "a: b", "two\nlines"]
cpu: "2"
memory: 4Gi
schedule: "0 3 * * *"
timezone: America/New_York
concurrency: replace
catchup: all
deadline: 90m
retries: 2
expect_success_within: 26h
env: {MODE: full, ON: "yes", EMPTY: "", NULLISH: "null", NUM: "1e3"}
labels: {team: ds}
annotations: {owner: ana}
kubernetes:
  node_selector: {pool: gpu}
  tolerations: ["gpu=true:NoSchedule"]
---
name: hello
image: busybox
cpu: 100m
memory: 64Mi
`

// TestGetApplyRoundTrip: docket get job NAME -o yaml (or json, or get jobs for all of
// them) prints what docket apply -f takes back unchanged, at the same revision; the same
// file edited applies as a new revision.
func TestGetApplyRoundTrip(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, storeFlags []string) {
		dir := t.TempDir()
		s := startServer(t, dir+"/data", storeFlags...)
		if out, stderr, code := s.cli("apply", "-f", writeFile(t, dir, "jobs.yaml", roundTripJobs)); code != 0 ||
			!strings.Contains(out, "job train created (revision 1)") {
			t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
		}
		apply := func(name, content string) string {
			t.Helper()
			out, stderr, code := s.cli("apply", "-f", writeFile(t, dir, name, content))
			if code != 0 {
				t.Fatalf("apply %s: exit %d %s\n%s", name, code, stderr, content)
			}
			return out
		}
		get := func(args ...string) string {
			t.Helper()
			out, stderr, code := s.cli(append([]string{"get"}, args...)...)
			if code != 0 {
				t.Fatalf("get %v: exit %d %s", args, code, stderr)
			}
			return out
		}

		train := get("job", "train", "-o", "yaml")
		if !strings.HasPrefix(train, "name: train\nimage: registry.example.com/ds/train:1.4.2\ncommand:\n") {
			t.Errorf("get job train -o yaml does not read as a definition:\n%s", train)
		}
		for _, tt := range []struct{ name, content, want string }{
			{"train.yaml", train, "job train unchanged (revision 1)"},
			{"train.json", get("job", "train", "-o", "json"), "job train unchanged (revision 1)"},
			{"all.yaml", get("jobs", "-o", "yaml"), "job hello unchanged (revision 1), runs on demand\njob train unchanged (revision 1)"},
		} {
			if out := apply(tt.name, tt.content); !strings.Contains(out, tt.want) {
				t.Errorf("apply what get printed (%s): %q; want %q\n%s", tt.name, out, tt.want, tt.content)
			}
		}
		for _, name := range []string{"train", "hello"} {
			var j struct{ Revision int }
			if s.api("GET", "/api/v1/jobs/"+name, "", &j); j.Revision != 1 {
				t.Errorf("job %s at revision %d after applying what get printed; want 1", name, j.Revision)
			}
		}
		edited := strings.Replace(train, "memory: 4Gi", "memory: 8Gi", 1)
		if out := apply("edited.yaml", edited); !strings.Contains(out, "job train updated (revision 2)") {
			t.Errorf("apply an edited definition: %q; want revision 2", out)
		}
		if out := get("job", "train"); !strings.Contains(out, "NAME") || !strings.Contains(out, "train") {
			t.Errorf("get job train as a table:\n%s", out)
		}
	})
}

// TestRunsWideWatch follows a run with docket runs -w -o wide off a terminal: the list,
// then the run again as it changes, with its duration and exit code; other listings take
// -o yaml.
func TestRunsWideWatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir+"/data")
	file := writeFile(t, dir, "slow.yaml", `name: slow
image: busybox
command: ["sh", "-c", "sleep 1.5; exit 3"]
cpu: 100m
memory: 64Mi
`)
	if _, stderr, code := s.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	watch := exec.Command(binary, "runs", "-w", "-o", "wide", "--job", "slow")
	watch.Env = append(os.Environ(), "DOCKET_SERVER="+s.URL)
	var out syncBuffer
	watch.Stdout, watch.Stderr = &out, &out
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the empty listing", func() bool { return out.String() == "no runs yet\n" })
	r := s.submit("slow")
	s.waitTerminal(r.ID, 30*time.Second)
	waitFor(t, 10*time.Second, "the failed run in the watch", func() bool { return strings.Contains(out.String(), "ExitCode") })
	watch.Process.Signal(syscall.SIGINT)
	if err := watch.Wait(); err != nil {
		t.Errorf("docket runs -w ended with %v on SIGINT; want exit 0", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 4 || !strings.HasSuffix(strings.Join(strings.Fields(lines[1]), " "), "REASON DURATION EXIT NODE") {
		t.Fatalf("watch printed:\n%s", out.String())
	}
	last := strings.Fields(lines[len(lines)-1])
	if want := []string{r.ID, "slow", "failed", "ExitCode", "3", "-"}; last[0] != want[0] || last[2] != want[2] ||
		last[len(last)-4] != want[3] || !strings.HasSuffix(last[len(last)-3], "s") || last[len(last)-2] != want[4] || last[len(last)-1] != want[5] {
		t.Errorf("last line %q; want the run failed, ExitCode, a duration, exit 3, no node", lines[len(lines)-1])
	}
	var states []string
	for _, l := range lines[2:] {
		states = append(states, strings.Fields(l)[2])
	}
	if states[len(states)-1] != "failed" || !strings.Contains(strings.Join(states, " "), "running") {
		t.Errorf("watch showed states %v; want the run running, then failed", states)
	}

	yamlOut, stderr, code := s.cli("runs", "--job", "slow", "-o", "yaml")
	var page struct{ Runs []job.Run }
	if err := yaml.Unmarshal([]byte(yamlOut), &page); err != nil || code != 0 || len(page.Runs) != 1 || page.Runs[0].ID != r.ID ||
		page.Runs[0].ExitCode == nil || *page.Runs[0].ExitCode != 3 {
		t.Errorf("runs -o yaml: exit %d, %v, %+v\n%s%s", code, err, page, yamlOut, stderr)
	}
	jobs, _, _ := s.cli("jobs", "-o", "wide")
	if !strings.Contains(jobs, "LAST EXIT") || !hasFields(jobs, "slow", "busybox", "3") {
		t.Errorf("jobs -o wide:\n%s", jobs)
	}
}

// TestRunsWideNode runs a job on the Kubernetes test control plane: docket runs -o wide
// names the node its pod ran on.
func TestRunsWideNode(t *testing.T) {
	t.Parallel()
	client := kubetest.Client(t)
	namespace := kubetest.Namespace(t, client)
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--executor", "kubernetes", "--kubeconfig", os.Getenv("DOCKET_TEST_KUBECONFIG"), "--namespace", namespace)
	file := writeFile(t, dir, "train.yaml", `name: train
image: registry.example.com/ds/train:1.4.2
command: ["python", "train.py"]
cpu: 500m
memory: 64Mi
`)
	if _, stderr, code := s.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	r := s.submit("train")
	if final := s.waitTerminal(r.ID, 90*time.Second); final.State != job.StateSucceeded {
		t.Fatalf("run %s %s: %s", r.ID, final.State, final.Message)
	}
	pods, err := client.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "docket.dev/run=" + r.ID})
	if err != nil || len(pods.Items) != 1 || pods.Items[0].Spec.NodeName == "" {
		t.Fatalf("the run's pod: %v %v", err, pods)
	}
	node := pods.Items[0].Spec.NodeName
	out, stderr, code := s.cli("runs", "-o", "wide")
	if code != 0 || !hasFields(out, r.ID, "succeeded", "0", node) {
		t.Errorf("runs -o wide: exit %d; want the run on node %s\n%s%s", code, node, out, stderr)
	}
	out, _, _ = s.cli("get", "jobs", "-o", "wide")
	if !hasFields(out, "train", "0", node) {
		t.Errorf("get jobs -o wide; want the last run on node %s\n%s", node, out)
	}
}

// hasFields reports whether a line of out holds each of fields, in order, as whole
// whitespace-separated fields.
func hasFields(out string, fields ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		i := 0
		for _, f := range strings.Fields(line) {
			if i < len(fields) && f == fields[i] {
				i++
			}
		}
		if i == len(fields) {
			return true
		}
	}
	return false
}

// syncBuffer is a bytes.Buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
