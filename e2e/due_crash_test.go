package e2e

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// TestDueCrash kills the server with SIGKILL three times at random moments while 30 jobs
// fire every second, restarting it at once each time: a job's slots and the move of its
// next due time are one transaction, so whatever the moment of a kill, every slot of every
// job has exactly one run, none lost and none doubled.
func TestDueCrash(t *testing.T) {
	t.Parallel()
	forEachStore(t, testDueCrash)
}

func testDueCrash(t *testing.T, storeFlags []string) {
	dir := t.TempDir()
	const jobs = 30
	defs := ""
	for i := range jobs {
		defs += fmt.Sprintf(`---
name: tick-%02d
image: busybox
command: ["true"]
cpu: 100m
memory: 16Mi
schedule: "@every 1s"
catchup: all
concurrency: allow
`, i)
	}
	file := writeFile(t, dir, "jobs.yaml", defs)
	// A 2s heartbeat (PostgreSQL): the killed server's lease expires while its successor
	// waits, so slots come due while nobody holds it, and the successor catches them up.
	flags := append(storeFlags, "--parallelism", "16", "--instance-ttl", "2s")
	s := startServer(t, dir+"/data", flags...)
	if out, errOut, code := s.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s%s", out, errOut)
	}
	for range 3 {
		time.Sleep(time.Duration(1500+rand.IntN(2000)) * time.Millisecond)
		s.Kill9()
		s = startServer(t, dir+"/data", flags...)
	}
	time.Sleep(4 * time.Second)
	for i := range jobs {
		if _, _, code := s.cli("suspend", fmt.Sprintf("tick-%02d", i)); code != 0 {
			t.Fatalf("suspend tick-%02d failed", i)
		}
	}
	runs := s.allRuns("")
	slots := map[string][]time.Time{}
	for _, r := range runs {
		if r.Trigger == job.TriggerSchedule && r.State != job.StateSkipped {
			slots[r.Job] = append(slots[r.Job], *r.ScheduledTime)
		}
	}
	for i := range jobs {
		name := fmt.Sprintf("tick-%02d", i)
		if len(slots[name]) < 8 {
			t.Errorf("%s: %d slots ran; want one a second for the whole test", name, len(slots[name]))
		}
		checkEverySecond(t, name, slots[name])
	}
}
