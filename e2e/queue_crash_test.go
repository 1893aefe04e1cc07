package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// TestQueueCrash kills the server while a queue of max_running 2 runs two of its six runs,
// on both stores: the restarted server recovers them (retried once, as the crash failed
// them), keeps the queue to 2 at a time, and every run, and each retry, ran once.
func TestQueueCrash(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, storeFlags []string) {
		dir := t.TempDir()
		ledger := filepath.Join(dir, "ledger")
		file := writeFile(t, dir, "q.yaml", fmt.Sprintf(`kind: Queue
name: two
max_running: 2
---
name: work
image: busybox
command: ["sh", "-c", "echo $DOCKET_RUN_ID >> %s; sleep 1"]
cpu: 100m
memory: 16Mi
concurrency: allow
retries: 1
queue: two
`, ledger))
		flags := append(storeFlags, "--executor", "process", "--parallelism", "8", "--retry-backoff", "200ms", "--instance-ttl", "2s")
		a := startServer(t, dir+"/data", flags...)
		if _, errOut, code := a.cli("apply", "-f", file); code != 0 {
			t.Fatalf("apply: %s", errOut)
		}
		var runs []job.Run
		for range 6 {
			runs = append(runs, a.submit("work"))
		}
		waitFor(t, 30*time.Second, "two runs to run", func() bool {
			var page struct{ Runs []job.Run }
			a.api("GET", "/api/v1/runs?limit=100&state=running&job=work", "", &page)
			return len(page.Runs) == 2
		})
		a.Kill9()

		b := startServer(t, dir+"/data", flags...)
		stop := make(chan struct{})
		most := sampleActive(b, "job=work", stop)
		for _, r := range runs {
			final := b.waitTerminal(r.ID, 60*time.Second)
			for final.State == job.StateFailed {
				retries := b.allRuns("job=work")
				var next *job.Run
				for i := range retries {
					if retries[i].RetryOf == final.ID {
						next = &retries[i]
					}
				}
				if next == nil {
					t.Fatalf("run %s failed (%s: %s) with no retry", final.ID, final.Reason, final.Message)
				}
				final = b.waitTerminal(next.ID, 60*time.Second)
			}
			if final.State != job.StateSucceeded {
				t.Errorf("run %s ended %s: %s", r.ID, final.State, final.Message)
			}
		}
		close(stop)
		if n := <-most; n > 2 {
			t.Errorf("%d runs of queue two active at once after the restart; want at most 2", n)
		}
		data, err := os.ReadFile(ledger)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, id := range strings.Fields(string(data)) {
			if seen[id]++; seen[id] > 1 {
				t.Errorf("run %s ran %d times", id, seen[id])
			}
		}
		all := b.allRuns("job=work")
		for _, r := range all {
			if r.State == job.StateSucceeded && seen[r.ID] != 1 {
				t.Errorf("run %s succeeded but ran %d times", r.ID, seen[r.ID])
			}
		}
		t.Logf("%d runs and retries for 6 submissions", len(all))
	})
}
