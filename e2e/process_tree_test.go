package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
// it: its process group is orphaned). A keeper that cannot act (held here stopped) is
// found by the restarted server, which kills it and all under it before the run
// is retried.
func TestProcessTreeOnCrash(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, storeFlags []string) {
		for _, keeper := range []string{"running", "stopped", "held"} {
			t.Run("keeper "+keeper, func(t *testing.T) {
				testProcessTreeOnCrash(t, storeFlags, keeper)
			})
		}
	})
}

func testProcessTreeOnCrash(t *testing.T, storeFlags []string, keeperState string) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The first attempt writes the pids of its background child, its command and its
	// keeper; the retry writes /proc's stat of each pid still in use, which may by then be
	// another process's: the start time tells.
	def := fmt.Sprintf(`name: tree
image: busybox
command: ["sh", "-c", "if [ \"$DOCKET_ATTEMPT\" = 2 ]; then for p in $(cat %[1]s); do cat /proc/$p/stat; done > %[1]s.retry; exit 0; fi; sleep 300 & echo $! $$ $PPID > %[1]s; exec sleep 301"]
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
	var procs []proc
	waitFor(t, 20*time.Second, "the run to start its processes", func() bool {
		data, _ := os.ReadFile(pids)
		procs = nil
		for _, f := range strings.Fields(string(data)) {
			pid, _ := strconv.Atoi(f)
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			procs = append(procs, readProc(string(st)))
		}
		return len(procs) == 3
	})
	t.Cleanup(func() {
		for _, p := range running(procs) {
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
	})
	keeper := procs[2].pid
	switch keeperState {
	case "stopped":
		if err := syscall.Kill(keeper, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		// Stopped before its server dies, or the kernel has no stopped process to wake.
		waitFor(t, 10*time.Second, "the keeper to stop", func() bool { return stopped(keeper) })
	case "held":
		// Stopped, and kept stopped when its server dies: the kernel wakes the stopped
		// members of a process group only when no member has a parent elsewhere in the
		// session, and this test's process is the parent of a member it adds.
		member := exec.Command("sleep", "300")
		member.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: keeper}
		if err := member.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			member.Process.Kill()
			member.Wait()
		})
		if err := syscall.Kill(keeper, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the keeper to stop", func() bool { return stopped(keeper) })
	}
	a.Kill9()
	if keeperState == "held" {
		time.Sleep(time.Second)
		if left := running(procs); len(left) != 3 {
			t.Fatalf("with its keeper held, the run's processes %v should outlive the server; running: %v", procs, left)
		}
	} else {
		waitFor(t, 10*time.Second, "the keeper to end the run's processes", func() bool { return len(running(procs)) == 0 })
	}

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
	var still []proc
	for _, line := range strings.Split(strings.TrimSpace(string(seen)), "\n") {
		if p := readProc(line); p.state != 'Z' && slices.Contains(procs, proc{pid: p.pid, start: p.start}) {
			still = append(still, p)
		}
	}
	if len(still) > 0 {
		t.Errorf("when the retry started, processes of the first attempt still ran: %v", still)
	}
	if left := running(procs); len(left) > 0 {
		t.Errorf("processes %v of the first attempt still run", left)
	}
}

// proc is a process as /proc/PID/stat has it: its pid and start time name it, never a
// later process given the same pid.
type proc struct {
	pid   int
	start string
	state byte // not compared: 0 in the procs a test keeps
}

// readProc reads a line of /proc/PID/stat; the zero proc when it is not one. The command
// name, in parentheses, may hold spaces, so the fields are read after its last ')'.
func readProc(stat string) proc {
	pid, _ := strconv.Atoi(strings.Fields(stat + " x")[0])
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return proc{}
	}
	f := strings.Fields(stat[i+1:]) // state is field 3 of proc(5), the start time field 22
	if len(f) < 20 {
		return proc{}
	}
	return proc{pid: pid, start: f[19], state: f[0][0]}
}

// stopped reports whether every thread of process pid is stopped. Its first thread stops
// before the others may have (a busy machine runs them late): until the last one has, the
// process is not stopped as the kernel counts a process group's stopped members, and the
// group's orphaning would wake nothing.
func stopped(pid int) bool {
	stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, stat := range stats {
		st, _ := os.ReadFile(stat)
		if readProc(string(st)).state != 'T' {
			return false
		}
	}
	return len(stats) > 0
}

// running returns those of procs that still run: the same process (not a later one with
// its pid), not a zombie.
func running(procs []proc) []proc {
	var out []proc
	for _, p := range procs {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
		if now := readProc(string(st)); now.start == p.start && now.state != 'Z' {
			out = append(out, p)
		}
	}
	return out
}
