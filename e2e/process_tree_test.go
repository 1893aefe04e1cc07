package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// TestProcessTreeOnCrash kills the server with SIGKILL while a run's command runs with a
// child it put in the background: nothing of the run may go on running, and its retry
// must find nothing of the first attempt running when it starts. The run's keeper ends the
// run's processes when its server dies, even when it was stopped then (the kernel wakes
// it: its process group is orphaned).
func TestProcessTreeOnCrash(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, storeFlags []string) {
		for _, stopKeeper := range []bool{false, true} {
			t.Run(fmt.Sprintf("keeper stopped %v", stopKeeper), func(t *testing.T) {
				testProcessTreeOnCrash(t, storeFlags, stopKeeper)
			})
		}
	})
}

func testProcessTreeOnCrash(t *testing.T, storeFlags []string, stopKeeper bool) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The first attempt writes the pids of its background child, its command and its
	// keeper; the retry writes which of them still run.
	def := fmt.Sprintf(`name: tree
image: busybox
command: ["sh", "-c", "if [ \"$DOCKET_ATTEMPT\" = 2 ]; then for p in $(cat %[1]s); do if [ -e /proc/$p ] && ! grep -q ') Z ' /proc/$p/stat; then echo $p; fi; done > %[1]s.retry; exit 0; fi; sleep 300 & echo $! $$ $PPID > %[1]s; exec sleep 301"]
cpu: 1
memory: 64Mi
retries: 1
`, pids)
	file := writeFile(t, dir, "tree.yaml", def)
	flags := append(storeFlags, "--instance-ttl", "2s", "--retry-backoff", "200ms")
	a := startServer(t, dir+"/data", flags...)
	if _, errOut, code := a.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	first := a.submit("tree")
	var procs []int
	waitFor(t, 20*time.Second, "the run to start its processes", func() bool {
		data, _ := os.ReadFile(pids)
		procs = nil
		for _, f := range strings.Fields(string(data)) {
			pid, _ := strconv.Atoi(f)
			procs = append(procs, pid)
		}
		return len(procs) == 3
	})
	t.Cleanup(func() {
		for _, pid := range procs {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	keeper := procs[2]
	if stopKeeper {
		if err := syscall.Kill(keeper, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	a.Kill9()
	waitFor(t, 10*time.Second, "the keeper to end the run's processes", func() bool { return len(running(procs)) == 0 })

	b := startServer(t, dir+"/data", flags...)
	var retry job.Run
	waitFor(t, 30*time.Second, "the retry to end", func() bool {
		for _, r := range b.allRuns("job=tree") {
			if r.RetryOf == first.ID && r.State.Terminal() {
				retry = r
				return true
			}
		}
		return false
	})
	if got := b.run(first.ID); got.Reason != "Interrupted" {
		t.Errorf("the first attempt ended %s %s, want Interrupted", got.State, got.Reason)
	}
	seen, err := os.ReadFile(pids + ".retry")
	if err != nil || retry.State != job.StateSucceeded {
		t.Fatalf("the retry ended %s %s %q: %v", retry.State, retry.Reason, retry.Message, err)
	}
	if strings.TrimSpace(string(seen)) != "" {
		t.Errorf("when the retry started, processes of the first attempt still ran: %s", seen)
	}
	if left := running(procs); len(left) > 0 {
		t.Errorf("processes %v of the first attempt still run", left)
	}
}

// running lists those of pids that run (exist and are not zombies).
func running(pids []int) []int {
	var out []int
	for _, pid := range pids {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(data)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && s[i+2] != 'Z' {
			out = append(out, pid)
		}
	}
	return out
}
