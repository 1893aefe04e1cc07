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

	"docket.dev/docket/internal/job"
)

// retryScript is a task that needs its files (notes.txt for every task, its own shard)
// and fails on task 2 until a marker exists; each appends its index to a ledger of the
// tasks that ran.
const retryScript = `test -f notes.txt || exit 7
test -f "$DOCKET_TASK_INPUT" || exit 8
echo "$DOCKET_TASK_INDEX" >> "$MARKS/ran"
if [ "$DOCKET_TASK_INDEX" = 2 ] && [ ! -e "$MARKS/fixed" ]; then exit 3; fi
"$BIN" report --result "{\"index\": $DOCKET_TASK_INDEX, \"lines\": $(wc -l < "$DOCKET_TASK_INPUT")}"
`

// TestArrayRetryFailed: an array of 5 tasks over a folder of files whose task 2 fails for
// good; docket retry --failed runs only task 2 again, with the same index and its files,
// carrying the other four over with their results; once task 2 can succeed, a second
// retry --failed ends the array succeeded, and docket results gives all five in order.
func TestArrayRetryFailed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir+"/data")
	marks := filepath.Join(dir, "marks")
	shards := filepath.Join(dir, "shards")
	for _, d := range []string{marks, shards} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, _ := json.Marshal(retryScript)
	def := writeFile(t, dir, "score.yaml", fmt.Sprintf("name: score\nimage: busybox\ncommand: [\"sh\", \"-c\", %s]\ncpu: 100m\nmemory: 64Mi\nenv: {BIN: %q, MARKS: %q}\n", script, binary, marks))
	if _, errOut, code := s.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	for i := range 5 {
		writeFile(t, shards, fmt.Sprintf("part-%d.csv", i), strings.Repeat("x\n", i+1))
	}
	notes := writeFile(t, dir, "notes.txt", "hello")
	ran := func() []string {
		data, _ := os.ReadFile(filepath.Join(marks, "ran"))
		out := strings.Fields(string(data))
		slices.Sort(out)
		return out
	}

	_, errOut, code := s.cli("run", "score", "--each-file", shards, "--file", notes, "--wait")
	if code == 0 {
		t.Fatalf("the array succeeded though task 2 fails:\n%s", errOut)
	}
	m := regexp.MustCompile(`run (\S+) of score submitted`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no run id in:\n%s", errOut)
	}
	first := m[1]
	if got := ran(); !slices.Equal(got, []string{"0", "1", "2", "3", "4"}) {
		t.Fatalf("tasks that ran: %v", got)
	}

	// Task 2 fails again: only it ran, with its files (its exit code 3, not 7 or 8).
	out, errOut, code := s.cli("retry", first, "--failed", "--wait", "--results")
	if code != 1 {
		t.Fatalf("retry --failed: exit %d; want 1, the array failed\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "task 2 run again in run ") {
		t.Errorf("retry --failed does not say which task runs again:\n%s", errOut)
	}
	if got := ran(); !slices.Equal(got, []string{"0", "1", "2", "2", "3", "4"}) {
		t.Errorf("tasks that ran after the first retry: %v; want task 2 once more", got)
	}
	second := results(t, out)
	if second[2].State != job.StateFailed || second[2].ExitCode == nil || *second[2].ExitCode != 3 {
		t.Errorf("task 2 after the first retry: %+v", second[2])
	}
	for _, i := range []int{0, 1, 3, 4} {
		if second[i].State != job.StateSucceeded || string(second[i].Result) != fmt.Sprintf(`{"index":%d,"lines":%d}`, i, i+1) {
			t.Errorf("task %d carried over: %+v", i, second[i])
		}
	}
	resumed := s.run(second[0].RunID)
	if resumed.Parent == "" || resumed.Parent == first {
		t.Fatalf("task 0 of the retry is %+v; want a child of the new array run", resumed)
	}

	if err := os.WriteFile(filepath.Join(marks, "fixed"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = s.cli("retry", resumed.Parent, "--failed", "--wait", "--results")
	if code != 0 {
		t.Fatalf("second retry --failed: exit %d\n%s\n%s", code, out, errOut)
	}
	third := results(t, out)
	for i, r := range third {
		if r.Index != i || r.State != job.StateSucceeded || string(r.Result) != fmt.Sprintf(`{"index":%d,"lines":%d}`, i, i+1) || r.Input != fmt.Sprintf("shards/part-%d.csv", i) {
			t.Errorf("task %d after the second retry: %+v", i, r)
		}
	}
	if got := ran(); !slices.Equal(got, []string{"0", "1", "2", "2", "2", "3", "4"}) {
		t.Errorf("tasks that ran after the second retry: %v; want task 2 once more", got)
	}

	// What --failed refuses: a run with nothing failed, a run that is no array.
	if _, errOut, code := s.cli("retry", third[0].RunID, "--failed"); code == 0 || !strings.Contains(errOut, "is no array; --failed runs an array's failed tasks again") {
		t.Errorf("retry --failed of a task: exit %d %s", code, errOut)
	}
	parent := s.run(third[0].RunID).Parent
	if _, errOut, code := s.cli("retry", parent, "--failed"); code == 0 || !strings.Contains(errOut, "nothing to run again") {
		t.Errorf("retry --failed of an array that succeeded: exit %d %s", code, errOut)
	}
}

type taskLine struct {
	Index    int
	Input    string
	State    job.State
	ExitCode *int `json:"exit_code"`
	Result   json.RawMessage
	RunID    string `json:"run_id"`
}

// results reads docket results' JSON lines.
func results(t *testing.T, out string) []taskLine {
	t.Helper()
	var got []taskLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r taskLine
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, r)
	}
	if len(got) != 5 {
		t.Fatalf("%d result lines; want 5:\n%s", len(got), out)
	}
	return got
}
