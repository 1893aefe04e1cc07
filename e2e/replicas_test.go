package e2e

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// TestReplicas runs three servers on one PostgreSQL database while schedules fire and
// submissions stream in, and kills the scheduler's leader with SIGKILL three times while it
// runs work (restarting it each time). Another server must take the lease within a lease
// period. Afterwards every slot ran exactly once or is a skipped run with its reason, every
// submission is stored once and ended with a reason, and no run started twice.
func TestReplicas(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger")
	file := writeFile(t, dir, "jobs.yaml", fmt.Sprintf(`name: work
image: busybox
command: ["sh", "-c", "echo $DOCKET_RUN_ID >> %[1]s; sleep 2"]
cpu: 1
memory: 64Mi
concurrency: allow
retries: 2
---
name: tick
image: busybox
command: ["sh", "-c", "echo $DOCKET_RUN_ID >> %[1]s"]
cpu: 1
memory: 64Mi
schedule: "@every 1s"
catchup: all
concurrency: allow
`, ledger))
	flags := []string{"--database-url", url, "--instance-ttl", "2s", "--schedule-grace", "2s",
		"--retry-backoff", "200ms", "--parallelism", "3"}
	servers := make([]*server, 3)
	for i := range servers {
		servers[i] = startServer(t, filepath.Join(dir, fmt.Sprintf("data%d", i)), flags...)
	}
	if _, errOut, code := servers[0].cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}

	submitted := 0
	submit := func(s *server, n int) {
		for range n {
			key := fmt.Sprintf("w%d", submitted)
			if status := s.api("POST", "/api/v1/jobs/work/runs", "", nil, "Idempotency-Key", key); status != 201 {
				t.Fatalf("submit %s: %d", key, status)
			}
			submitted++
		}
	}
	submit(servers[0], 6)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	leader := func() (holder string, token int64) {
		db.QueryRow(`SELECT holder, token FROM leases WHERE name = 'scheduler' AND expires_at > now()`).Scan(&holder, &token)
		return holder, token
	}

	var killed []string // "-PID-" of each killed server, as it appears in its instance id
	for round := range 3 {
		// Kill the scheduler's leader while it runs work.
		victim := -1
		waitFor(t, 30*time.Second, "the leader to run work", func() bool {
			holder, _ := leader()
			for i, srv := range servers {
				if strings.Contains(holder, fmt.Sprintf("-%d-", srv.cmd.Process.Pid)) {
					victim = i
				}
			}
			if victim < 0 {
				return false
			}
			for _, r := range servers[victim].allRuns("job=work&state=running") {
				if r.ClaimedBy == holder {
					return true
				}
			}
			if len(servers[victim].allRuns("job=work&state=queued")) == 0 {
				submit(servers[(victim+1)%len(servers)], 3)
			}
			return false
		})
		holder, token := leader()
		killed = append(killed, fmt.Sprintf("-%d-", servers[victim].cmd.Process.Pid))
		servers[victim].Kill9()
		killedAt := time.Now()
		submit(servers[(victim+1)%len(servers)], 3)
		// Another server takes the lease within a lease period (plus one renewal).
		waitFor(t, 10*time.Second, "a new leader", func() bool {
			h, tok := leader()
			return h != "" && h != holder && tok > token
		})
		d := time.Since(killedAt)
		t.Logf("round %d: leader killed; a new leader after %v", round, d.Round(time.Millisecond))
		if d > 2*time.Second+time.Second {
			t.Errorf("round %d: a new leader took %v; the lease is 2s", round, d)
		}
		time.Sleep(time.Second) // past the TTL: the others recover the victim's runs
		servers[victim] = startServer(t, filepath.Join(dir, fmt.Sprintf("data%d", victim)), flags...)
	}
	s := servers[0]
	// Resubmitting with the same keys creates nothing.
	for i := range submitted {
		if status := s.api("POST", "/api/v1/jobs/work/runs", "", nil, "Idempotency-Key", fmt.Sprintf("w%d", i)); status != 200 {
			t.Errorf("resubmit w%d: %d, want 200", i, status)
		}
	}
	if _, _, code := s.cli("delete", "job", "tick"); code != 0 {
		t.Fatal("delete tick failed")
	}
	runs := s.settle(2 * time.Minute)
	ran := readLedger(t, ledger)

	t.Run("every submission stored once and ended with a reason", func(t *testing.T) {
		checkSubmissions(t, runs, submitted)
		interrupted := 0
		for _, r := range runs {
			if r.Reason == "Interrupted" {
				interrupted++
			}
		}
		if interrupted == 0 {
			t.Error("no run was interrupted: the kills did not hit runs in flight")
		}
	})

	t.Run("only the runs of killed servers were recovered", func(t *testing.T) {
		for _, r := range runs {
			if r.Reason != "Interrupted" && r.Reason != "Requeued" {
				continue
			}
			ofKilled := false
			for _, k := range killed {
				ofKilled = ofKilled || strings.Contains(r.ClaimedBy, k) || strings.Contains(r.Message, k)
			}
			if !ofKilled {
				t.Errorf("run %s was recovered (%s: %s) but its server %q was not killed", r.ID, r.Reason, r.Message, r.ClaimedBy)
			}
		}
	})

	t.Run("no run started twice", func(t *testing.T) {
		known := map[string]bool{}
		for _, r := range runs {
			known[r.ID] = true
			if n := ran[r.ID]; n > 1 {
				t.Errorf("run %s of %s started %d times", r.ID, r.Job, n)
			} else if r.State == job.StateSucceeded && n != 1 {
				t.Errorf("succeeded run %s has %d ledger entries, want 1", r.ID, n)
			}
		}
		for id := range ran {
			if !known[id] {
				t.Errorf("a process ran for run %s, which Docket does not know", id)
			}
		}
	})

	t.Run("every slot once, run or skipped with a reason", func(t *testing.T) {
		var slots []time.Time
		for _, r := range runs {
			if r.Job != "tick" {
				continue
			}
			slots = append(slots, *r.ScheduledTime)
			switch {
			case r.State == job.StateSucceeded:
			case r.State == job.StateSkipped && r.Reason != "":
			case r.State == job.StateFailed && r.Reason == "Interrupted":
			default:
				t.Errorf("slot %v is %s (%s: %s)", r.ScheduledTime, r.State, r.Reason, r.Message)
			}
		}
		if len(slots) < 8 {
			t.Fatalf("only %d slots of tick", len(slots))
		}
		checkEverySecond(t, "tick", slots)
	})
}
