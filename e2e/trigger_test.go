package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

const triggerJobs = `name: load
image: busybox
command: ["sh", "-c", "sleep 1; echo loaded"]
cpu: 100m
memory: 32Mi
retries: 1
---
name: publish
image: busybox
command: ["sh", "-c", "echo published"]
cpu: 100m
memory: 32Mi
after: [{job: load, on: succeeded}]
`

// TestTriggersAcrossRestart: three successful runs of an upstream job fire the downstream
// job three times, once each, though the server is killed (SIGKILL) while the third runs
// (it is interrupted, and its retry's success is what fires); a trigger on an unknown job
// and a cycle of triggers are refused at apply, naming the field.
func TestTriggersAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	srv := startServer(t, data, "--executor", "process")
	file := writeFile(t, dir, "jobs.yaml", triggerJobs)
	if _, stderr, code := srv.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"name: orphan\nimage: busybox\ncpu: 1\nmemory: 1Mi\nafter: [{job: laod}]\n", `after[0].job: no job "laod"; did you mean "load"?`},
		{"name: load\nimage: busybox\ncpu: 1\nmemory: 1Mi\nafter: [{job: publish, on: finished}]\n", "after: the triggers form a cycle: load -> publish -> load"},
	} {
		_, stderr, code := srv.cli("apply", "-f", writeFile(t, dir, "bad.yaml", bad.yaml))
		if code == 0 || !strings.Contains(stderr, bad.want) {
			t.Errorf("apply %q: exit %d, %s; want %q", bad.yaml, code, stderr, bad.want)
		}
	}
	if out, _, _ := srv.cli("get", "load"); strings.Contains(out, "after") {
		t.Errorf("a refused apply changed load:\n%s", out)
	}

	runLoad := func(s *server) {
		t.Helper()
		if _, stderr, code := s.cli("run", "load", "--wait"); code != 0 {
			t.Fatalf("run load: %s", stderr)
		}
	}
	runLoad(srv)
	runLoad(srv)
	third := srv.submit("load")
	waitFor(t, 30*time.Second, "the third load to run", func() bool { return srv.run(third.ID).State == job.StateRunning })
	srv.Kill9()
	srv = startServer(t, data, "--executor", "process", "--retry-backoff", "100ms")
	if r := srv.waitTerminal(third.ID, 30*time.Second); r.Reason != job.ReasonInterrupted {
		t.Errorf("the third load ended %s %s; want it interrupted by the kill", r.State, r.Reason)
	}
	var fired []job.Run
	waitFor(t, 30*time.Second, "publish to run three times", func() bool {
		fired = srv.allRuns("job=publish")
		done := 0
		for _, r := range fired {
			if r.State == job.StateSucceeded {
				done++
			}
		}
		return done >= 3
	})
	time.Sleep(500 * time.Millisecond) // a fourth firing, if there were one, has had time
	fired = srv.allRuns("job=publish")
	keys := map[string]bool{}
	for _, r := range fired {
		if r.Trigger != job.TriggerAfter || r.Reason != job.ReasonCompleted || !strings.HasPrefix(r.IdempotencyKey, "after:") {
			t.Errorf("publish run %+v", r)
		}
		keys[r.IdempotencyKey] = true
	}
	succeeded := 0
	for _, r := range srv.allRuns("job=load") {
		if r.State == job.StateSucceeded {
			succeeded++
		}
	}
	if len(fired) != 3 || len(keys) != 3 || succeeded != 3 {
		t.Errorf("%d successful runs of load fired %d runs of publish (%d keys); want 3 of each, once per success", succeeded, len(fired), len(keys))
	}
	if evs := srv.events(fired[len(fired)-1].ID); len(evs) == 0 || evs[0].Reason != job.ReasonTriggered || !strings.Contains(evs[0].Message, "of job load succeeded") {
		t.Errorf("the first event of a fired run: %+v", evs)
	}
}
