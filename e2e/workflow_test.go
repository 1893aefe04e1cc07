package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

// workflowFile is the reference pipeline with sh -c steps. Each step appends its name
// to a ledger; extract reports a result that train's command reads through a template
// and through docket report --get-result (and, as its $0, a key extract's result does not
// have); train fails on its first run (no marker yet).
// %[1]s is the test's directory.
const workflowFile = `name: pipeline
image: busybox
cpu: 500m
memory: 64Mi
deadline: 1m
steps:
  - name: extract
    command: ["sh", "-c", "echo extract >> %[1]s/ledger; docket report --result '{\"path\": \"/data/{{ .ScheduledDate }}\"}'"]
  - name: train
    needs: [extract]
    command: ["sh", "-c", "echo train >> %[1]s/ledger; echo data={{ .Steps.extract.Result.path }}; echo got=$(docket report --get-result extract); if [ ! -f %[1]s/marker ]; then touch %[1]s/marker; echo no marker; exit 3; fi", "{{ .Steps.extract.Result.pth }}"]
  - {name: evaluate-a, needs: [train], command: ["sh", "-c", "echo evaluate-a >> %[1]s/ledger"]}
  - {name: evaluate-b, needs: [train], command: ["sh", "-c", "echo evaluate-b >> %[1]s/ledger"]}
  - {name: publish, needs: [evaluate-a, evaluate-b], command: ["sh", "-c", "echo publish >> %[1]s/ledger"]}
  - {name: notify, needs: [publish], when: always, command: ["sh", "-c", "echo notify >> %[1]s/ledger"]}
`

// TestWorkflowProcess runs the pipeline on the process executor: train fails, what
// needs it is skipped but notify runs, and the workflow fails; docket retry carries
// extract over (with its result) and runs train and what follows again.
func TestWorkflowProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "data"), "--executor", "process") // docket is on its runs' PATH
	file := writeFile(t, dir, "pipeline.yaml", fmt.Sprintf(workflowFile, dir))
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}

	stdout, stderr, code := srv.cli("run", "pipeline", "--wait", "-o", "json")
	var first job.Run
	if err := json.Unmarshal([]byte(stdout), &first); err != nil || code == 0 || first.State != job.StateFailed || first.Reason != job.ReasonStepFailed {
		t.Fatalf("run --wait: exit %d, run %+v (%v)\nstderr:\n%s", code, first, err, stderr)
	}
	if !strings.Contains(stderr, "step train") || !strings.Contains(stderr, "UpstreamFailed") {
		t.Errorf("run --wait did not follow the steps:\n%s", stderr)
	}
	want := map[string]string{"extract": "succeeded Completed", "train": "failed ExitCode", "evaluate-a": "skipped UpstreamFailed",
		"evaluate-b": "skipped UpstreamFailed", "publish": "skipped UpstreamFailed", "notify": "succeeded Completed"}
	steps := stepsOf(t, srv, first.ID)
	if diff := cmp.Diff(want, stepStatesOf(steps)); diff != "" {
		t.Errorf("steps of the first run (-want +got):\n%s", diff)
	}
	trainLog := srv.logs(steps["train"].ID)
	date := first.CreatedAt.UTC().Format("2006-01-02")
	if !strings.Contains(trainLog, "data=/data/"+date+"\n") || !strings.Contains(trainLog, `got={"path":"/data/`+date+`"}`) {
		t.Errorf("train did not get extract's result:\n%s", trainLog)
	}
	if got := ledger(t, dir); got != "extract train notify" {
		t.Errorf("ran %q; want extract train notify", got)
	}
	// The misspelt key rendered as "", and train's events say so.
	var missing []string
	for _, ev := range srv.events(steps["train"].ID) {
		if ev.Reason == job.ReasonResultMissing {
			missing = append(missing, ev.Message)
		}
	}
	if want := `{{ .Steps.extract.Result.pth }} rendered as "": step extract's result has no key "pth" (its keys: path)`; len(missing) != 1 || missing[0] != want {
		t.Errorf("train's ResultMissing notices: %q; want one, %q", missing, want)
	}
	tree, _, _ := srv.cli("describe", "run", first.ID)
	// A step under what it needs, and the states in one column.
	drawn := regexp.MustCompile(`(?m)^  - extract( +)succeeded  Completed.*\n    - train( +)failed     ExitCode`).FindStringSubmatch(tree)
	if drawn == nil || len(drawn[1]) != len(drawn[2]) {
		t.Errorf("describe run does not draw the steps:\n%s", tree)
	}
	if out, _, _ := srv.cli("runs"); strings.Count(out, "\n") != 2 || !strings.Contains(out, "2/6 steps succeeded, 1 failed") {
		t.Errorf("docket runs: want the workflow as one line with its progress:\n%s", out)
	}

	// Bad retries are refused, naming the field.
	var e struct {
		Error struct{ Field, Message string }
	}
	if status := srv.api("POST", "/api/v1/runs/"+first.ID+"/retry", `{"from": "trian"}`, &e); status != 400 || e.Error.Field != "from" ||
		!strings.HasSuffix(e.Error.Message, `has no step "trian"; its steps are evaluate-a, evaluate-b, extract, notify, publish, train`) {
		t.Errorf("retry from an unknown step: %d %+v", status, e)
	}
	if status := srv.api("POST", "/api/v1/runs/"+steps["train"].ID+"/retry", ``, &e); status != 409 {
		t.Errorf("retry of a step's run: %d %+v", status, e)
	}

	if _, stderr, code := srv.cli("retry", first.ID, "--wait", "--results"); code != 2 || !strings.Contains(stderr, "is a workflow run") {
		t.Errorf("retry --results of a workflow: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code = srv.cli("retry", first.ID, "--wait", "-o", "json")
	var resumed job.Run
	if err := json.Unmarshal([]byte(stdout), &resumed); err != nil || code != 0 || resumed.State != job.StateSucceeded || resumed.ResumedFrom != first.ID {
		t.Fatalf("retry --wait: exit %d, run %+v (%v)\nstderr:\n%s", code, resumed, err, stderr)
	}
	again := stepsOf(t, srv, resumed.ID)
	want = map[string]string{"extract": "succeeded Reused", "train": "succeeded Completed", "evaluate-a": "succeeded Completed",
		"evaluate-b": "succeeded Completed", "publish": "succeeded Completed", "notify": "succeeded Completed"}
	if diff := cmp.Diff(want, stepStatesOf(again)); diff != "" {
		t.Errorf("steps of the resumed run (-want +got):\n%s", diff)
	}
	if again["extract"].ReusedFrom != steps["extract"].ID {
		t.Errorf("extract reuses %q; want %s", again["extract"].ReusedFrom, steps["extract"].ID)
	}
	if got := ledger(t, dir); got != "extract train notify train evaluate-a evaluate-b publish notify" &&
		got != "extract train notify train evaluate-b evaluate-a publish notify" {
		t.Errorf("ran %q; want train and what follows it again, not extract", got)
	}
	if log := srv.logs(again["train"].ID); !strings.Contains(log, "data=/data/"+date+"\n") {
		t.Errorf("the resumed train did not get extract's carried-over result:\n%s", log)
	}
	// The old run is as it was.
	if diff := cmp.Diff(stepStatesOf(steps), stepStatesOf(stepsOf(t, srv, first.ID))); diff != "" {
		t.Errorf("the resumed run changed (-before +after):\n%s", diff)
	}
	// A run whose every step succeeded has nothing to run again but what --from names.
	if _, stderr, code := srv.cli("retry", resumed.ID); code == 0 || !strings.HasPrefix(stderr, "docket: every step of run "+resumed.ID+" succeeded") ||
		!strings.Contains(stderr, "--from STEP") {
		t.Errorf("retry of a workflow run that succeeded: exit %d %s", code, stderr)
	}
	if out, _, code := srv.cli("logs", resumed.ID, "--step", "train"); code != 0 || !strings.Contains(out, "got={") {
		t.Errorf("logs --step train: exit %d\n%s", code, out)
	}
	// -f: each line after its step's name, until the workflow has ended.
	if out, _, code := srv.cli("logs", resumed.ID, "-f"); code != 0 || !regexp.MustCompile(`(?m)^train +\| got=\{`).MatchString(out) {
		t.Errorf("logs -f of a workflow run: exit %d\n%s", code, out)
	}
	// Without --step, every step that ran, each under a line naming it.
	if out, _, code := srv.cli("logs", resumed.ID); code != 0 || !strings.Contains(out, "==> step train (succeeded) <==\n") || !strings.Contains(out, "got={") {
		t.Errorf("logs of a workflow run: exit %d\n%s", code, out)
	}
	// -o json: one object per step that ran (extract was carried over, so it did not).
	out, _, code := srv.cli("logs", resumed.ID, "-o", "json")
	var logs struct {
		RunID string `json:"run_id"`
		Steps []struct {
			Step, RunID, State, Log string
		}
	}
	if err := json.Unmarshal([]byte(out), &logs); err != nil || code != 0 || logs.RunID != resumed.ID || len(logs.Steps) != 5 ||
		logs.Steps[0].Step == "extract" || !slices.ContainsFunc(logs.Steps, func(s struct{ Step, RunID, State, Log string }) bool {
		return s.Step == "train" && s.State == "succeeded" && strings.Contains(s.Log, "got={")
	}) {
		t.Errorf("logs -o json of a workflow run: exit %d, %+v (%v)\n%s", code, logs, err, out)
	}
	if _, stderr, code := srv.cli("logs", resumed.ID, "-o", "json", "-f"); code != 2 || !strings.Contains(stderr, "without -f, -o json gives each step's output") {
		t.Errorf("logs -o json -f of a workflow run: exit %d\n%s", code, stderr)
	}
	var res struct{ Result json.RawMessage }
	if status := srv.api("GET", "/api/v1/runs/"+again["train"].ID+"/steps/extract/result", "", &res); status != 200 || !strings.Contains(string(res.Result), date) {
		t.Errorf("extract's result read from train's run: %d %s", status, res.Result)
	}
	// A step reads the results of the steps it needs only.
	for _, tc := range []struct {
		from, step string
		status     int
		msg        string
	}{
		{"train", "publish", 400, "step publish runs after step train"},
		{"evaluate-a", "evaluate-b", 400, "step evaluate-a does not need step evaluate-b"},
		{"train", "extrct", 404, `has no step \"extrct\"; its steps are extract, train, evaluate-a, evaluate-b, publish, notify`},
	} {
		var body json.RawMessage
		if status := srv.api("GET", "/api/v1/runs/"+again[tc.from].ID+"/steps/"+tc.step+"/result", "", &body); status != tc.status || !strings.Contains(string(body), tc.msg) {
			t.Errorf("%s's result read from %s's run: %d %s; want %d with %q", tc.step, tc.from, status, body, tc.status, tc.msg)
		}
	}
	// Once the job has changed, a retry still runs the old run's revision, and says so.
	changed := writeFile(t, dir, "pipeline2.yaml", strings.Replace(fmt.Sprintf(workflowFile, dir), "deadline: 1m", "deadline: 2m", 1))
	if _, stderr, code := srv.cli("apply", "-f", changed); code != 0 {
		t.Fatalf("apply revision 2: %s", stderr)
	}
	stdout, stderr, code = srv.cli("retry", first.ID, "--from", "publish", "--wait", "--logs")
	if want := fmt.Sprintf("runs revision 1 of job pipeline, as run %s did; the job is at revision 2 now (docket run pipeline runs that)", first.ID); code != 0 || !strings.Contains(stderr, want) {
		t.Errorf("retry after the job changed: exit %d\n%s\nwant %q", code, stderr, want)
	}
	// retry --wait --logs prints the steps' output at the end, as run does.
	if !strings.Contains(stdout, "==> step publish (succeeded) <==\n") {
		t.Errorf("retry --wait --logs: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// --wait --logs of a workflow prints each step's output at the end.
	stdout, stderr, code = srv.cli("run", "pipeline", "--wait", "--logs")
	if code != 0 || !strings.Contains(stdout, "==> step train (succeeded) <==\ndata=/data/") {
		t.Errorf("run --wait --logs of a workflow: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// stepsOf returns the newest attempt of every step of a workflow run, by step.
func stepsOf(t *testing.T, srv *server, id string) map[string]job.Run {
	t.Helper()
	return group.Latest(srv.allRuns("parent=" + id))
}

func stepStatesOf(steps map[string]job.Run) map[string]string {
	out := map[string]string{}
	for k, r := range steps {
		out[k] = string(r.State) + " " + string(r.Reason)
	}
	return out
}

// ledger is what the steps wrote to the test's ledger, one word a line, as one line.
func ledger(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "ledger"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(data)), " ")
}

// TestLocalWorkflow runs a workflow from a file on this machine, with no server: the
// steps run in order, a step's result reaches the next one's command, an always step runs
// after a failure, and the exit code says the workflow failed.
func TestLocalWorkflow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writeFile(t, dir, "wf.yaml", `name: local-pipe
image: busybox
cpu: 100m
memory: 32Mi
steps:
  - {name: extract, command: ["sh", "-c", "docket report --result '{\"path\": \"/x\"}' >/dev/null"]}
  - {name: train, needs: [extract], command: ["sh", "-c", "echo train on {{ .Steps.extract.Result.path }}; exit 4"]}
  - {name: notify, needs: [train], when: always, command: ["echo", "notified"]}
`)
	stdout, stderr, code := docket(t, nil, "run", "-f", file, "--local", "--executor", "process")
	if code == 0 || !strings.Contains(stdout, "==> step train (failed) <==\ntrain on /x\n") || !strings.Contains(stdout, "notified") {
		t.Errorf("run --local: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestWorkflowCancel cancels a running workflow with docket cancel: the running step is
// stopped, the waiting one skipped, and the always step still runs.
func TestWorkflowCancel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, filepath.Join(dir, "data"), "--executor", "process", "--kill-grace", "1s")
	file := writeFile(t, dir, "wf.yaml", `name: stoppable
image: busybox
cpu: 100m
memory: 32Mi
steps:
  - {name: slow, command: ["sleep", "60"]}
  - {name: next, needs: [slow], command: ["true"]}
  - {name: cleanup, needs: [next], when: always, command: ["echo", "cleaned"]}
`)
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	wf := srv.submit("stoppable")
	waitFor(t, 30*time.Second, "step slow to run", func() bool {
		return stepsOf(t, srv, wf.ID)["slow"].State == job.StateRunning
	})
	if out, stderr, code := srv.cli("cancel", wf.ID); code != 0 {
		t.Fatalf("cancel: %s%s", out, stderr)
	}
	final := srv.waitTerminal(wf.ID, 30*time.Second)
	want := map[string]string{"slow": "cancelled Cancelled", "next": "skipped Cancelled", "cleanup": "succeeded Completed"}
	steps := stepsOf(t, srv, wf.ID)
	if diff := cmp.Diff(want, stepStatesOf(steps)); diff != "" || final.State != job.StateCancelled {
		t.Errorf("workflow %s (%s); steps (-want +got):\n%s", final.State, final.Message, diff)
	}
	if log := srv.logs(steps["cleanup"].ID); log != "cleaned\n" {
		t.Errorf("cleanup's output %q", log)
	}
}
