package e2e

import (
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// TestRetention runs a server whose history is kept for seconds: logs go first (the run
// says so), then finished runs but the newest of each job; a running run is never touched.
func TestRetention(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, storeFlags []string) {
		dir := t.TempDir()
		s := startServer(t, dir+"/data", append(storeFlags,
			"--retain-runs", "3s", "--retain-logs", "1s", "--retain-per-job", "1", "--retention-interval", "200ms")...)
		jobs := writeFile(t, dir, "jobs.yaml", `name: echo
image: busybox
command: ["echo", "hello"]
cpu: 100m
memory: 64Mi
concurrency: allow
---
name: long
image: busybox
command: ["sleep", "60"]
cpu: 100m
memory: 64Mi
`)
		if out, errOut, code := s.cli("apply", "-f", jobs); code != 0 {
			t.Fatalf("apply: exit %d %s %s", code, out, errOut)
		}
		submit := func(name string) string {
			var r job.Run
			if status := s.api("POST", "/api/v1/jobs/"+name+"/runs", "{}", &r); status != 201 {
				t.Fatalf("submit %s: status %d", name, status)
			}
			return r.ID
		}
		long := submit("long")
		var echoes []string
		for range 3 {
			id := submit("echo")
			if r := s.waitTerminal(id, 30*time.Second); r.State != job.StateSucceeded {
				t.Fatalf("run %s: %s %s", id, r.State, r.Message)
			}
			if got := s.logs(id); got != "hello\n" {
				t.Fatalf("log of %s = %q before retention", id, got)
			}
			echoes = append(echoes, id)
		}

		// Logs go a second after the runs finish; each run says why.
		waitFor(t, 15*time.Second, "the echo runs' logs to expire", func() bool {
			for _, id := range echoes {
				if s.logs(id) != "" {
					return false
				}
			}
			return true
		})
		for _, id := range echoes {
			if evs := s.events(id); !hasReason(evs, "LogsExpired") {
				t.Errorf("run %s lost its log without a LogsExpired event: %v", id, evs)
			}
		}

		// Runs go three seconds after they finish, but the newest echo stays.
		waitFor(t, 15*time.Second, "the older echo runs to be deleted", func() bool {
			return len(s.allRuns("job=echo")) == 1
		})
		if runs := s.allRuns("job=echo"); runs[0].ID != echoes[2] {
			t.Errorf("kept echo run %s, want the newest %s", runs[0].ID, echoes[2])
		}
		var gone struct{ Error struct{ Code string } }
		if status := s.api("GET", "/api/v1/runs/"+echoes[0], "", &gone); status != 404 {
			t.Errorf("GET a deleted run: status %d %+v, want 404", status, gone)
		}
		if r := s.run(long); r.State.Terminal() {
			t.Errorf("the running run ended: %s %s", r.State, r.Message)
		}
	})
}
