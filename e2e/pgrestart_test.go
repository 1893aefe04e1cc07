package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// postgresCluster starts a PostgreSQL cluster of the test's own with scripts/postgres, so
// the test can stop and restart it; it returns the connection URL and the directory.
func postgresCluster(t *testing.T) (string, string) {
	t.Helper()
	if os.Getenv("DOCKET_TEST_POSTGRES") == "" && os.Getenv("DOCKET_TEST_POSTGRES_REQUIRED") == "" {
		t.Skip("DOCKET_TEST_POSTGRES is not set: no PostgreSQL for this machine's tests")
	}
	// Not under t.TempDir: as root the cluster runs as the postgres user, who must be able
	// to reach the directory.
	dir, err := os.MkdirTemp("", "docket-pgrestart-")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("../scripts/postgres", "start", dir).Output()
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		exec.Command("../scripts/postgres", "stop", dir).Run()
		os.RemoveAll(dir)
	})
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "DOCKET_TEST_POSTGRES="), dir
}

// TestPostgresRestart stops the database for a few seconds under load and starts it again:
// the server rides it out and carries on, every acknowledged submission is stored once and
// runs once, and every slot of a schedule has one run.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	url, pgDir := postgresCluster(t)
	dir := t.TempDir()
	ledger := filepath.Join(dir, "ledger")
	file := writeFile(t, dir, "jobs.yaml", fmt.Sprintf(`name: work
image: busybox
command: ["sh", "-c", "echo $DOCKET_RUN_ID >> %[1]s; sleep 0.5"]
cpu: 1
memory: 64Mi
concurrency: allow
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
	s := startServer(t, dir+"/data", "--database-url", url, "--instance-ttl", "2s", "--retry-backoff", "200ms", "--parallelism", "4")
	if _, errOut, code := s.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}

	// A client that submits one run every 100ms, retrying each key until it is acknowledged.
	var (
		mu    sync.Mutex
		acked []string
		fails int
	)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			key := fmt.Sprintf("k%d", i)
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				req, _ := http.NewRequest("POST", s.URL+"/api/v1/jobs/work/runs", nil)
				req.Header.Set("Idempotency-Key", key)
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
				}
				mu.Lock()
				if err == nil && (resp.StatusCode == 201 || resp.StatusCode == 200) {
					acked = append(acked, key)
					mu.Unlock()
					break
				}
				fails++
				mu.Unlock()
			}
		}
	}()

	time.Sleep(2 * time.Second)
	if out, err := exec.Command("../scripts/postgres", "stop", pgDir).CombinedOutput(); err != nil {
		t.Fatalf("stop postgres: %v\n%s", err, out)
	}
	time.Sleep(3 * time.Second)
	if out, err := exec.Command("../scripts/postgres", "restart", pgDir).CombinedOutput(); err != nil {
		t.Fatalf("start postgres again: %v\n%s", err, out)
	}
	time.Sleep(4 * time.Second)
	close(stop)
	<-stopped

	select {
	case <-s.done:
		t.Fatalf("the server exited during the database outage:\n%s", s.Log())
	default:
	}
	if _, _, code := s.cli("delete", "job", "tick"); code != 0 {
		t.Fatal("delete tick failed")
	}
	runs := s.settle(2 * time.Minute)
	ran := readLedger(t, ledger)
	mu.Lock()
	defer mu.Unlock()
	if fails == 0 {
		t.Error("no submission failed: the outage did not happen")
	}
	byKey := map[string]int{}
	var slots []time.Time
	for _, r := range runs {
		if n := ran[r.ID]; n > 1 || r.State == job.StateSucceeded && n != 1 {
			t.Errorf("run %s (%s) is %s and started %d times", r.ID, r.Job, r.State, n)
		}
		switch r.Job {
		case "work":
			byKey[r.IdempotencyKey]++
			if r.State != job.StateSucceeded {
				t.Errorf("submission %s: %s (%s: %s)", r.IdempotencyKey, r.State, r.Reason, r.Message)
			}
		case "tick":
			slots = append(slots, *r.ScheduledTime)
		}
	}
	for _, key := range acked {
		if byKey[key] != 1 {
			t.Errorf("acknowledged submission %s has %d runs, want 1", key, byKey[key])
		}
	}
	checkEverySecond(t, "tick", slots)
	t.Logf("%d submissions acknowledged, %d attempts refused during the outage, %d tick slots", len(acked), fails, len(slots))
}
