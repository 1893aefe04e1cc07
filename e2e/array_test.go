package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

// taskScript is one task of an array: a task whose input holds "fail" fails on its first
// attempt (leaving a marker file) and succeeds on its retry; each reports its input, index
// and the array's size as its result.
const taskScript = `m="$MARKS/$DOCKET_TASK_INDEX"
case "$DOCKET_TASK_INPUT" in *fail*) if [ ! -e "$m" ]; then touch "$m"; exit 3; fi;; esac
"$BIN" report --result "{\"line\": \"$DOCKET_TASK_INPUT\", \"index\": $DOCKET_TASK_INDEX, \"count\": $DOCKET_TASK_COUNT}"
if [ "$DOCKET_TASK_INDEX" = 5 ]; then echo "rows of $DOCKET_TASK_INPUT" > out.txt; "$BIN" report --file out.txt; fi
`

// TestArrayEachLine runs an array of 20 tasks, one per line of a file, on the process
// executor: two tasks fail once and are retried with the same index; docket run --wait
// shows the progress and docket results gives 20 lines in index order with each task's
// input and result.
func TestArrayEachLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--retry-backoff", "100ms")
	marks := filepath.Join(dir, "marks")
	if err := os.Mkdir(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	script, _ := json.Marshal(taskScript)
	def := writeFile(t, dir, "score.yaml", fmt.Sprintf("name: score\nimage: busybox\ncommand: [\"sh\", \"-c\", %s]\ncpu: 100m\nmemory: 64Mi\nretries: 1\nparallelism: 4\nenv: {BIN: %q, MARKS: %q}\n", script, binary, marks))
	if _, errOut, code := s.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	var lines, want []string
	for i := range 20 {
		line := fmt.Sprintf("shard-%02d.csv", i)
		if i == 3 || i == 11 {
			line = fmt.Sprintf("shard-%02d-fail.csv", i)
		}
		lines = append(lines, line)
		want = append(want, fmt.Sprintf(`%d %s succeeded {"line":%q,"index":%d,"count":20}`, i, line, line, i))
	}
	shards := writeFile(t, dir, "shards.txt", strings.Join(lines, "\n")+"\n")
	out, errOut, code := s.cli("run", "score", "--each-line", shards, "--wait", "--results")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "20/20 succeeded, 0 running") || !regexp.MustCompile(`run \S+ succeeded after \S+\n$`).MatchString(errOut) {
		t.Errorf("progress lacks the last line, or the run's summary after it:\n%s", errOut)
	}
	check := func(what, out string) {
		t.Helper()
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				Index   int
				Input   string
				State   string
				Result  json.RawMessage
				Attempt int
				Files   []struct{ Path string }
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("%s: line %q: %v", what, l, err)
			}
			got = append(got, fmt.Sprintf("%d %s %s %s", r.Index, r.Input, r.State, r.Result))
			if wantFiles := map[bool]int{true: 1, false: 0}[r.Index == 5]; len(r.Files) != wantFiles {
				t.Errorf("%s: task %d has files %v; want %d", what, r.Index, r.Files, wantFiles)
			}
			if wantAttempt := map[bool]int{true: 2, false: 1}[strings.Contains(r.Input, "fail")]; r.Attempt != wantAttempt {
				t.Errorf("%s: task %d ran %d attempts; want %d", what, r.Index, r.Attempt, wantAttempt)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", what, diff)
		}
	}
	check("run --wait --results", out)
	id := strings.Fields(errOut)[1]
	out, errOut, code = s.cli("results", id)
	if code != 0 {
		t.Fatalf("results: exit %d %s", code, errOut)
	}
	check("docket results", out)
	download := filepath.Join(dir, "out")
	if _, errOut, code := s.cli("results", id, "--download", download); code != 0 {
		t.Fatalf("results --download: exit %d %s", code, errOut)
	}
	if data, err := os.ReadFile(filepath.Join(download, "5", "out.txt")); err != nil || string(data) != "rows of shard-05.csv\n" {
		t.Errorf("task 5's output file: %q %v", data, err)
	}
	if r := s.run(id); r.State != job.StateSucceeded || r.Group == nil || r.Group.Succeeded != 20 {
		t.Errorf("array run: %+v", r)
	}
}

// TestResultsPlainRun: docket results of a run that is no array prints its newest
// attempt's line (following its retry) and downloads its output files; a workflow's
// points to its steps.
func TestResultsPlainRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--retry-backoff", "100ms")
	// The first attempt fails; its retry's line is the run's.
	script := `[ "$DOCKET_ATTEMPT" = 1 ] && exit 3; echo model > model.bin && "$BIN" report --result '{"auc": 0.91}' --file model.bin`
	def := writeFile(t, dir, "train.yaml", fmt.Sprintf("name: train\nimage: busybox\ncommand: [\"sh\", \"-c\", %q]\ncpu: 100m\nmemory: 64Mi\nretries: 1\nenv: {BIN: %q}\n", script, binary))
	if _, errOut, code := s.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	// run --wait --download writes what its newest attempt kept.
	waited := filepath.Join(dir, "waited")
	if _, errOut, code := s.cli("run", "train", "--wait", "--download", waited); code != 0 || !strings.Contains(errOut, "wrote 1 output file, 6 bytes, under "+waited) {
		t.Errorf("run --wait --download: exit %d %s", code, errOut)
	}
	if data, err := os.ReadFile(filepath.Join(waited, "model.bin")); err != nil || string(data) != "model\n" {
		t.Errorf("the file run --wait --download wrote: %q %v", data, err)
	}
	out, errOut, code := s.cli("run", "train", "-o", "json")
	if code != 0 {
		t.Fatalf("run: exit %d %s", code, errOut)
	}
	var run job.Run
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatalf("run -o json: %v\n%s", err, out)
	}
	download := filepath.Join(dir, "out")
	out, errOut, code = s.cli("results", run.ID, "--follow", "--download", download)
	if code != 0 {
		t.Fatalf("results --follow --download: exit %d %s", code, errOut)
	}
	var line struct {
		State   job.State
		Result  json.RawMessage
		Files   []job.File
		RunID   string `json:"run_id"`
		Attempt int
	}
	if err := json.Unmarshal([]byte(out), &line); err != nil {
		t.Fatalf("results: %v\n%s", err, out)
	}
	if line.State != job.StateSucceeded || string(line.Result) != `{"auc":0.91}` || line.Attempt != 2 || line.RunID == run.ID ||
		len(line.Files) != 1 || line.Files[0].Path != "model.bin" {
		t.Errorf("results of a plain run: %s", out)
	}
	if data, err := os.ReadFile(filepath.Join(download, "model.bin")); err != nil || string(data) != "model\n" {
		t.Errorf("its output file: %q %v", data, err)
	}
	if out, _, code := s.cli("describe", "run", line.RunID); code != 0 || !strings.Contains(out, "Outputs:    1 file, 6 bytes (docket results "+line.RunID+" --download DIR): model.bin\n") {
		t.Errorf("describe run of a run that kept a file: exit %d\n%s", code, out)
	}
	wf := writeFile(t, dir, "wf.yaml", "name: wf\nimage: busybox\ncpu: 100m\nmemory: 64Mi\nsteps:\n  - name: a\n    command: [\"true\"]\n")
	if _, errOut, code := s.cli("apply", "-f", wf); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	out, errOut, code = s.cli("run", "wf", "-o", "json")
	if code != 0 {
		t.Fatalf("run wf: exit %d %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &run); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := s.cli("results", run.ID); code == 0 || !strings.Contains(errOut, "is a workflow; each step reports its own") {
		t.Errorf("results of a workflow: exit %d %s", code, errOut)
	}
	// --download of an array with tasks still to end says so.
	slow := writeFile(t, dir, "slow.yaml", "name: slow\nimage: busybox\ncommand: [\"sleep\", \"60\"]\ncpu: 100m\nmemory: 16Mi\n")
	if _, errOut, code := s.cli("apply", "-f", slow); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	if out, errOut, code = s.cli("run", "slow", "--array", "2", "-o", "json"); code != 0 || json.Unmarshal([]byte(out), &run) != nil {
		t.Fatalf("run slow --array 2: exit %d %s", code, errOut)
	}
	if _, errOut, code := s.cli("results", run.ID, "--download", filepath.Join(dir, "slow")); code != 0 || !strings.Contains(errOut, "2 tasks of the array still to end") {
		t.Errorf("results --download of an array still running: exit %d %s", code, errOut)
	}
	s.cli("cancel", run.ID)
}
