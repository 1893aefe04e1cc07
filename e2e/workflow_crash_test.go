package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// wideWorkflow is 20 steps of about a second in 4 layers of 5, each step needing every
// step of the layer before (fan-out and fan-in at every layer). Each step appends its
// run id to the ledger when it starts.
func wideWorkflow(ledger string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: wide\nimage: busybox\ncpu: 100m\nmemory: 32Mi\nretries: 4\nsteps:\n")
	for layer := range 4 {
		for i := range 5 {
			fmt.Fprintf(&b, "  - name: s%d-%d\n    command: [\"sh\", \"-c\", \"echo $DOCKET_RUN_ID >> %s; sleep 1\"]\n", layer, i, ledger)
			if layer > 0 {
				var needs []string
				for j := range 5 {
					needs = append(needs, fmt.Sprintf("s%d-%d", layer-1, j))
				}
				fmt.Fprintf(&b, "    needs: [%s]\n", strings.Join(needs, ", "))
			}
		}
	}
	return b.String()
}

// TestWorkflowCrash kills servers with SIGKILL while a wide workflow runs: on SQLite the
// only server (restarted on the same data), on PostgreSQL one of two replicas. Every step
// runs exactly once per attempt, none is lost, none starts before its needs succeeded,
// and the workflow succeeds.
func TestWorkflowCrash(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ledger := filepath.Join(dir, "ledger")
			flags := []string{"--executor", "process", "--parallelism", "5", "--retry-backoff", "100ms", "--instance-ttl", "2s"}
			replicas := 1
			if backend == "postgres" {
				flags = append(flags, "--database-url", pgtest.URL(t))
				replicas = 2
			}
			servers := make([]*server, replicas)
			for i := range servers {
				servers[i] = startServer(t, filepath.Join(dir, fmt.Sprintf("data%d", i)), flags...)
			}
			if _, stderr, code := servers[0].cli("apply", "-f", writeFile(t, dir, "wide.yaml", wideWorkflow(ledger))); code != 0 {
				t.Fatalf("apply: %s", stderr)
			}
			wf := servers[0].submit("wide")
			for _, layer := range []string{"s1-", "s3-"} {
				// Kill a server while it runs steps of the layer.
				victim := -1
				waitFor(t, 60*time.Second, "steps of layer "+layer+" to run", func() bool {
					for _, r := range servers[0].allRuns("parent=" + wf.ID + "&state=running") {
						for i, srv := range servers {
							if strings.HasPrefix(r.Step, layer) && strings.Contains(r.ClaimedBy, fmt.Sprintf("-%d-", srv.cmd.Process.Pid)) {
								victim = i
								return true
							}
						}
					}
					return false
				})
				servers[victim].Kill9()
				if replicas == 1 {
					time.Sleep(500 * time.Millisecond)
				}
				servers[victim] = startServer(t, filepath.Join(dir, fmt.Sprintf("data%d", victim)), flags...)
			}
			final := servers[0].waitTerminal(wf.ID, 2*time.Minute)
			children := servers[0].allRuns("parent=" + wf.ID)
			ran := readLedger(t, ledger)
			if final.State != job.StateSucceeded {
				t.Errorf("workflow %s: %s", final.State, final.Message)
			}
			firsts, interrupted := map[string]int{}, 0
			for _, c := range children {
				if c.Attempt == 1 {
					firsts[c.Step]++
				}
				if c.Reason == job.ReasonInterrupted {
					interrupted++
				}
				if n := ran[c.ID]; n > 1 || c.State == job.StateSucceeded && n != 1 {
					t.Errorf("step %s run %s (%s) started %d times", c.Step, c.ID, c.State, n)
				}
			}
			if len(firsts) != 20 {
				t.Errorf("%d steps have a first attempt; want 20", len(firsts))
			}
			for step, n := range firsts {
				if n != 1 {
					t.Errorf("step %s has %d first attempts", step, n)
				}
			}
			if len(ran) != len(children) && interrupted == 0 {
				t.Errorf("%d runs in the ledger, %d step runs", len(ran), len(children))
			}
			if interrupted == 0 {
				t.Error("no step was interrupted: the kills did not hit steps in flight")
			}
			latest := group.Latest(children)
			for step, c := range latest {
				if c.State != job.StateSucceeded {
					t.Errorf("step %s ended %s: %s", step, c.State, c.Message)
					continue
				}
				for _, need := range c.Needs {
					if n := latest[need]; n.FinishedAt == nil || c.StartedAt == nil || c.StartedAt.Before(*n.FinishedAt) {
						t.Errorf("step %s started at %v, before %s ended at %v", step, c.StartedAt, need, n.FinishedAt)
					}
				}
			}
			t.Logf("%s: 20 steps, %d step runs, %d interrupted by the kills", backend, len(children), interrupted)
		})
	}
}
