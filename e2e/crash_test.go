package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// TestCrashRecovery kills the server with SIGKILL while runs are in flight and slots are
// due, restarts it on the same data directory, and checks that no run is lost, none runs
// twice, and the slots missed while it was down follow each job's catch-up policy.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	forEachStore(t, testCrashRecovery)
}

func testCrashRecovery(t *testing.T, storeFlags []string) {
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger")
	// Every process appends its run id to the ledger when it starts: the ledger is the
	// world's record of what ran, independent of Docket's.
	defs := fmt.Sprintf(`name: work
image: busybox
command: ["sh", "-c", "echo $DOCKET_RUN_ID >> %[1]s; sleep 2"]
cpu: 1
memory: 64Mi
concurrency: allow
retries: 1
`, ledger)
	for _, policy := range []string{"none", "latest", "all"} {
		defs += fmt.Sprintf(`---
name: every-%[2]s
image: busybox
command: ["sh", "-c", "echo $DOCKET_RUN_ID >> %[1]s"]
cpu: 1
memory: 64Mi
schedule: "@every 1s"
catchup: %[2]s
concurrency: allow
`, ledger, policy)
	}
	file := writeFile(t, dir, "jobs.yaml", defs)
	// A 2s lease and heartbeat (PostgreSQL): the crashed process's lease has expired when its
	// successor starts 6s later, so the successor schedules at once.
	flags := append(storeFlags, "--parallelism", "3", "--schedule-grace", "1s", "--retry-backoff", "200ms", "--instance-ttl", "2s")

	a := startServer(t, dir+"/data", flags...)
	if out, errOut, code := a.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s%s", out, errOut)
	}
	const submissions = 12
	for i := range submissions {
		var r job.Run
		if status := a.api("POST", "/api/v1/jobs/work/runs", "", &r, "Idempotency-Key", fmt.Sprintf("w%d", i)); status != 201 {
			t.Fatalf("submit %d: %d", i, status)
		}
	}
	waitFor(t, 20*time.Second, "runs in flight", func() bool {
		return len(a.allRuns("job=work&state=running")) > 0 && len(a.allRuns("job=work&state=queued")) > 0
	})
	killedAt := time.Now()
	a.Kill9()
	time.Sleep(6 * time.Second) // slots come due while nobody is watching
	restartedAt := time.Now()
	b := startServer(t, dir+"/data", flags...)

	// Resubmitting with the same keys after the crash must not create runs.
	for i := range submissions {
		if status := b.api("POST", "/api/v1/jobs/work/runs", "", nil, "Idempotency-Key", fmt.Sprintf("w%d", i)); status != 200 {
			t.Errorf("resubmit %d after restart: %d, want 200", i, status)
		}
	}
	time.Sleep(2 * time.Second)
	for _, policy := range []string{"none", "latest", "all"} {
		if _, _, code := b.cli("delete", "job", "every-"+policy); code != 0 {
			t.Fatalf("delete every-%s failed", policy)
		}
	}
	runs := b.settle(90 * time.Second)
	ran := readLedger(t, ledger)

	t.Run("no submission lost", func(t *testing.T) {
		checkSubmissions(t, runs, submissions)
		interrupted := 0
		for _, r := range runs {
			if r.Reason == "Interrupted" {
				interrupted++
				if _, ok := findRetry(runs, r.ID); !ok && r.Attempt == 1 {
					t.Errorf("interrupted run %s (attempt 1 of 2) was not retried", r.ID)
				}
			}
		}
		if interrupted == 0 {
			t.Error("no run was interrupted: the crash did not hit runs in flight")
		}
	})

	t.Run("none ran twice", func(t *testing.T) {
		for _, r := range runs {
			n := ran[r.ID]
			if n > 1 {
				t.Errorf("run %s started %d times", r.ID, n)
			}
			if r.State == job.StateSucceeded && n != 1 {
				t.Errorf("succeeded run %s has %d ledger entries, want 1", r.ID, n)
			}
			if n == 1 && !hasReason(b.events(r.ID), "Starting") {
				t.Errorf("run %s ran without being recorded as starting", r.ID)
			}
		}
		known := map[string]bool{}
		for _, r := range runs {
			known[r.ID] = true
		}
		for id := range ran {
			if !known[id] {
				t.Errorf("a process ran for run %s, which Docket does not know", id)
			}
		}
	})

	t.Run("missed slots follow the catch-up policy", func(t *testing.T) {
		// Slots certainly missed: due after the kill and found more than the grace late.
		from, through := killedAt.Add(time.Second), restartedAt.Add(-1500*time.Millisecond)
		for _, policy := range []string{"none", "latest", "all"} {
			var slots []time.Time
			missedRan, missedSkipped := 0, 0
			for _, r := range runs {
				if r.Job != "every-"+policy {
					continue
				}
				slots = append(slots, *r.ScheduledTime)
				if r.ScheduledTime.Before(from) || r.ScheduledTime.After(through) {
					continue
				}
				switch {
				case r.State == job.StateSkipped && r.Reason == "Missed":
					missedSkipped++
				case r.State == job.StateSucceeded:
					missedRan++
				default:
					t.Errorf("every-%s: missed slot %v is %s (%s)", policy, r.ScheduledTime, r.State, r.Reason)
				}
			}
			missed := missedRan + missedSkipped
			if missed < 2 {
				t.Fatalf("every-%s: only %d slots in the downtime window", policy, missed)
			}
			switch policy {
			case "none":
				if missedRan != 0 {
					t.Errorf("catchup none ran %d missed slots", missedRan)
				}
			case "latest":
				if missedRan > 1 || missedSkipped < missed-1 {
					t.Errorf("catchup latest: %d ran, %d skipped of %d missed", missedRan, missedSkipped, missed)
				}
			case "all":
				if missedSkipped != 0 {
					t.Errorf("catchup all skipped %d missed slots", missedSkipped)
				}
			}
			checkEverySecond(t, "every-"+policy, slots)
		}
	})
}

// checkSubmissions checks that want runs of job work were submitted through the API, and
// that each one's retry chain ended succeeded or failed as interrupted.
func checkSubmissions(t *testing.T, runs []job.Run, want int) {
	t.Helper()
	submitted := 0
	for _, r := range runs {
		if r.Job != "work" || r.Trigger != job.TriggerAPI {
			continue
		}
		submitted++
		end := r
		for {
			next, ok := findRetry(runs, end.ID)
			if !ok {
				break
			}
			end = next
		}
		if end.State != job.StateSucceeded && !(end.State == job.StateFailed && end.Reason == "Interrupted") {
			t.Errorf("submission %s ended as %s (%s: %s)", r.ID, end.State, end.Reason, end.Message)
		}
	}
	if submitted != want {
		t.Errorf("%d submitted runs stored, want %d", submitted, want)
	}
}

func findRetry(runs []job.Run, id string) (job.Run, bool) {
	for _, r := range runs {
		if r.RetryOf == id {
			return r, true
		}
	}
	return job.Run{}, false
}

func hasReason(events []job.Event, reason job.Reason) bool {
	for _, ev := range events {
		if ev.Reason == reason {
			return true
		}
	}
	return false
}
