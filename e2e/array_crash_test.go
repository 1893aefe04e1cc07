package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// TestArrayCrash kills the server with SIGKILL while an array of 200 short tasks runs:
// after the restart every task ends, each attempt's process ran at most once (exactly
// once for one that succeeded), no process ran for a run Docket does not know, and the
// array's counts add up to its 200 tasks.
func TestArrayCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger")
	def := writeFile(t, dir, "tiny.yaml", fmt.Sprintf(`name: tiny
image: busybox
command: ["sh", "-c", "echo $DOCKET_RUN_ID >> %s; sleep 0.05"]
cpu: 100m
memory: 64Mi
retries: 1
concurrency: allow
`, ledger))
	flags := []string{"--parallelism", "8", "--retry-backoff", "100ms"}
	a := startServer(t, dir+"/data", flags...)
	if _, errOut, code := a.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	var array job.Run
	if code := a.api("POST", "/api/v1/jobs/tiny/runs", `{"tasks": 200}`, &array); code != 201 {
		t.Fatalf("submit: %d", code)
	}
	waitFor(t, 60*time.Second, "some tasks done, some to go", func() bool {
		p := a.run(array.ID)
		return p.Group != nil && p.Group.Succeeded >= 30
	})
	a.Kill9()
	b := startServer(t, dir+"/data", flags...)
	final := b.waitTerminal(array.ID, 120*time.Second)
	if g := final.Group; g == nil || g.Ended != 200 || g.Succeeded+g.Failed != 200 {
		t.Fatalf("array ended %s with %+v; want 200 tasks ended", final.State, final.Group)
	}
	runs := b.allRuns("job=tiny")
	ran := readLedger(t, ledger)
	known := map[string]bool{}
	tasks := map[int]bool{}
	for _, r := range runs {
		known[r.ID] = true
		if r.TaskIndex == nil {
			continue
		}
		tasks[*r.TaskIndex] = true
		switch n := ran[r.ID]; {
		case n > 1:
			t.Errorf("task %d attempt %d (run %s) ran %d times", *r.TaskIndex, r.Attempt, r.ID, n)
		case r.State == job.StateSucceeded && n != 1:
			t.Errorf("task %d attempt %d succeeded with %d ledger entries; want 1", *r.TaskIndex, r.Attempt, n)
		case !r.State.Terminal():
			t.Errorf("task %d attempt %d is %s after the array ended", *r.TaskIndex, r.Attempt, r.State)
		}
	}
	if len(tasks) != 200 {
		t.Errorf("%d task indexes have runs; want 200", len(tasks))
	}
	for id := range ran {
		if !known[id] {
			t.Errorf("a process ran for run %s, which Docket does not know", id)
		}
	}
}
