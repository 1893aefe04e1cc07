package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/job"
)

// TestMain makes the test binary a keeper when an executor starts it as one, as the
// docket binary is.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == KeeperArg {
		if err := Keep(); err != nil {
			fmt.Fprintln(os.Stderr, "keeper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func setup(t *testing.T) (*Executor, *executetest.Recorder) {
	t.Helper()
	rec := executetest.New()
	e := New(Options{Reporter: rec, Logs: rec, WorkDir: t.TempDir(), KillGrace: 300 * time.Millisecond})
	return e, rec
}

func execution(id string, deadline time.Duration, command ...string) job.Execution {
	return job.Execution{
		Run: job.Run{ID: id, Job: "j", Attempt: 1}, Image: "busybox", CPU: "1", Memory: "1Gi",
		Command: command, Deadline: deadline,
		Env: map[string]string{"DOCKET_RUN_ID": id, "MODE": "test"},
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command []string
		state   job.State
		reason  job.Reason
		message string
		code    int
		log     string
	}{
		{"success with env and both streams", []string{"sh", "-c", "echo run=$DOCKET_RUN_ID mode=$MODE; echo err >&2"},
			job.StateSucceeded, "Completed", "exited with code 0", 0, "run=r1 mode=test\nerr\n"},
		{"exit code", []string{"sh", "-c", "exit 3"}, job.StateFailed, "ExitCode", "exited with code 3", 3, ""},
		{"killed by a signal", []string{"sh", "-c", "kill -KILL $$"}, job.StateFailed, "Signaled", "killed by signal 9 (killed)", 137, ""},
		{"command not found", []string{"no-such-program-anywhere"}, job.StateFailed, "CommandNotFound", "command not found: no-such-program-anywhere", 127, ""},
		{"no command", nil, job.StateFailed, "NoCommand", "the definition has no command, and the process executor needs one to run", 127, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, rec := setup(t)
			x := execution("r1", time.Minute, tt.command...)
			x.Notes = []job.Note{{Reason: job.ReasonResultMissing, Message: "a step's result had no such key"}}
			if err := e.Start(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			u := rec.Finish(t, 20*time.Second)
			if u.State != tt.state || u.Reason != tt.reason || u.Message != tt.message || u.ExitCode == nil || *u.ExitCode != tt.code {
				t.Errorf("final update %s %s %q exit %v; want %s %s %q exit %d", u.State, u.Reason, u.Message, u.ExitCode, tt.state, tt.reason, tt.message, tt.code)
			}
			if got := rec.Log("r1"); got != tt.log {
				t.Errorf("log = %q, want %q", got, tt.log)
			}
			// The run's own note goes with its pending state, after the executor's.
			if r := rec.Reasons("r1"); len(r) < 4 || !slices.Equal(r[:4], []string{"Starting", "ImageNotUsed", "ResourcesNotEnforced", "ResultMissing"}) {
				t.Errorf("first updates %v; want Starting, ImageNotUsed, ResourcesNotEnforced, ResultMissing", r)
			}
			executetest.WaitIdle(t, e)
		})
	}
}

// rawReports keeps the updates as the executor reported them, before a Recorder splits a
// start off the end it goes with.
type rawReports struct {
	*executetest.Recorder
	mu  sync.Mutex
	raw []job.Update
}

func (r *rawReports) Report(ctx context.Context, u job.Update) error {
	r.mu.Lock()
	r.raw = append(r.raw, u)
	r.mu.Unlock()
	return r.Recorder.Report(ctx, u)
}

// TestStartWithEnd: a process that ends at once has its start recorded with its end, one
// write; one that runs on has its start recorded on its own, before its end. Either way the
// start carries the process's pid and its time.
func TestStartWithEnd(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		command  []string
		window   time.Duration
		together bool
	}{
		{"ends within the window", []string{"true"}, time.Minute, true},
		{"runs on past it", []string{"sleep", "0.5"}, time.Millisecond, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &rawReports{Recorder: executetest.New()}
			e := New(Options{Reporter: rec, Logs: rec, WorkDir: t.TempDir(), KillGrace: time.Second, StartWindow: tt.window})
			before := time.Now()
			if err := e.Start(context.Background(), execution("r1", time.Minute, tt.command...)); err != nil {
				t.Fatal(err)
			}
			rec.Finish(t, 20*time.Second)
			executetest.WaitIdle(t, e)
			rec.mu.Lock()
			raw := slices.Clone(rec.raw)
			rec.mu.Unlock()
			end := raw[len(raw)-1]
			var states []job.State
			for _, u := range raw {
				states = append(states, u.State)
			}
			if tt.together {
				if !slices.Equal(states, []job.State{job.StatePending, job.StateSucceeded}) || end.Start == nil {
					t.Fatalf("reported %v (start with the end: %v); want pending, then the start with the end", states, end.Start != nil)
				}
			} else if !slices.Equal(states, []job.State{job.StatePending, job.StateRunning, job.StateSucceeded}) || end.Start != nil {
				t.Fatalf("reported %v; want pending, running, succeeded", states)
			}
			ups := rec.Updates("r1")
			start := ups[1]
			if start.State != job.StateRunning || start.Reason != job.ReasonStarted || !strings.HasPrefix(start.Message, "process ") ||
				start.Time.Before(before) || start.Time.After(ups[2].Time) {
				t.Errorf("start %+v; want Started, its pid, a time before the end's %v", start, ups[2].Time)
			}
		})
	}
}

func TestStops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command []string
		stop    func(*Executor, context.CancelFunc)
		state   job.State
		reason  job.Reason
		message string
	}{
		{"deadline", []string{"sleep", "30"}, nil, job.StateFailed, "DeadlineExceeded", "exceeded its 1s deadline"},
		{"deadline kills a process that ignores SIGTERM", []string{"sh", "-c", "trap '' TERM; sleep 30"}, nil, job.StateFailed, "DeadlineExceeded", "exceeded its 1s deadline"},
		{"cancel", []string{"sleep", "30"}, func(e *Executor, _ context.CancelFunc) { e.Cancel(context.Background(), "r1", "ana@laptop") },
			job.StateCancelled, "Cancelled", "cancelled by ana@laptop"},
		{"server shutdown", []string{"sleep", "30"}, func(_ *Executor, cancel context.CancelFunc) { cancel() },
			job.StateFailed, "Interrupted", "the docket server stopped during the run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, rec := setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go e.Run(ctx)
			deadline := time.Second
			if tt.stop != nil {
				deadline = time.Minute
			}
			if err := e.Start(context.Background(), execution("r1", deadline, tt.command...)); err != nil {
				t.Fatal(err)
			}
			if tt.stop != nil {
				tt.stop(e, cancel)
			}
			start := time.Now()
			u := rec.Finish(t, 20*time.Second)
			if u.State != tt.state || u.Reason != tt.reason || u.Message != tt.message {
				t.Errorf("final update %s %s %q; want %s %s %q", u.State, u.Reason, u.Message, tt.state, tt.reason, tt.message)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("stopping took %v", d)
			}
			executetest.WaitIdle(t, e)
		})
	}
	t.Run("cancel of an unknown run", func(t *testing.T) {
		t.Parallel()
		e, _ := setup(t)
		if err := e.Cancel(context.Background(), "absent", "x"); err != job.ErrNotFound {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestBaseEnvKeepsServerSecretsOut(t *testing.T) {
	t.Setenv("DOCKET_TEST_SECRET", "hunter2")
	e, rec := setup(t)
	if err := e.Start(context.Background(), execution("r1", time.Minute, "env")); err != nil {
		t.Fatal(err)
	}
	rec.Finish(t, 20*time.Second)
	log := rec.Log("r1")
	if strings.Contains(log, "hunter2") || !strings.Contains(log, "MODE=test") || !strings.Contains(log, "PATH=") {
		t.Errorf("run env:\n%s", log)
	}
}

// TestDocketOnPath: a run finds docket (the server's own binary) on its PATH, after the
// server's own folders, and a run that sets its own PATH keeps it.
func TestDocketOnPath(t *testing.T) {
	rec := executetest.New()
	bin := t.TempDir()
	e := New(Options{Reporter: rec, Logs: rec, WorkDir: t.TempDir(), BinDir: bin, KillGrace: 300 * time.Millisecond})
	if err := e.Start(context.Background(), execution("r1", time.Minute, "sh", "-c", `readlink "$(command -v docket)"; echo "$PATH"`)); err != nil {
		t.Fatal(err)
	}
	rec.Finish(t, 20*time.Second)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(rec.Log("r1")), "\n")
	if len(lines) != 2 || lines[0] != self || lines[1] != os.Getenv("PATH")+":"+bin {
		t.Errorf("docket in the run:\n%s\nwant %s, found after the server's PATH %s", rec.Log("r1"), self, os.Getenv("PATH"))
	}
	x := execution("r2", time.Minute, "sh", "-c", `echo "$PATH"`)
	x.Env["PATH"] = "/usr/bin:/bin"
	if err := e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	rec.Finish(t, 20*time.Second)
	if got := strings.TrimSpace(rec.Log("r2")); got != "/usr/bin:/bin" {
		t.Errorf("a run's own PATH became %q", got)
	}
}

// BenchmarkRun measures one run end to end through the process executor, one at a time,
// with the same test job the container executor's BenchmarkRun runs.
func BenchmarkRun(b *testing.B) {
	bin := enginetest.TestJob(b)
	rec := executetest.New()
	e := New(Options{Reporter: rec, Logs: rec, WorkDir: b.TempDir(), KillGrace: time.Second})
	n := 0
	for b.Loop() {
		n++
		x := execution(fmt.Sprintf("r%d", n), time.Minute, bin, "exit", "0")
		if err := e.Start(context.Background(), x); err != nil {
			b.Fatal(err)
		}
		if u := rec.Finish(b, time.Minute); u.State != job.StateSucceeded {
			b.Fatalf("run %s %s: %s", u.State, u.Reason, u.Message)
		}
	}
}

// alive lists those of the pids in file that still run.
func alive(t *testing.T, file string) []int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%s: %q is not a pid", file, f)
		}
		if st, err := readStat(pid); err == nil && st.alive() {
			out = append(out, pid)
		}
	}
	return out
}

// TestTreeKilled runs commands that leave processes behind, in and out of their process
// group: whatever ends the run, nothing of it is left running.
func TestTreeKilled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script string
		stop   func(*Executor)
		reason job.Reason
	}{
		{"exit leaves a child running", `sleep 300 & echo $! > "$PIDS"; exit 0`, nil, "Completed"},
		{"deadline, a child in its own session", `setsid sleep 300 & echo $! > "$PIDS"; sleep 30`, nil, "DeadlineExceeded"},
		{"deadline, an orphan that ignores SIGTERM in its own session",
			`(setsid sh -c 'trap "" TERM; sleep 300 & echo $! >> "$PIDS"; sleep 300' &); trap "" TERM; sleep 30`, nil, "DeadlineExceeded"},
		{"cancel, a double fork", `(sh -c 'sleep 300 & echo $! >> "$PIDS"; echo $$ >> "$PIDS"; sleep 300' &); sleep 30`,
			func(e *Executor) { e.Cancel(context.Background(), "r1", "ana") }, "Cancelled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, rec := setup(t)
			pids := filepath.Join(t.TempDir(), "pids")
			x := execution("r1", 2*time.Second, "sh", "-c", tt.script)
			x.Env["PIDS"] = pids
			if tt.stop != nil {
				x.Deadline = time.Minute
			}
			if err := e.Start(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			waitFile(t, pids)
			if tt.stop != nil {
				tt.stop(e)
			}
			u := rec.Finish(t, 20*time.Second)
			if u.Reason != tt.reason {
				t.Errorf("final update %s %s %q; want %s", u.State, u.Reason, u.Message, tt.reason)
			}
			if left := alive(t, pids); len(left) > 0 {
				t.Errorf("processes %v of the run still run after it ended", left)
				for _, pid := range left {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			if _, err := os.Stat(e.recordPath("r1")); !os.IsNotExist(err) {
				t.Errorf("the keeper's record outlived the run: %v", err)
			}
		})
	}
}

// TestKeeperKilled: a command whose keeper is killed (SIGKILL is the one thing that ends a
// keeper before its run) is killed too, by its parent-death signal.
func TestKeeperKilled(t *testing.T) {
	t.Parallel()
	e, rec := setup(t)
	pids := filepath.Join(t.TempDir(), "pids")
	x := execution("r1", time.Minute, "sh", "-c", `echo $$ > "$PIDS"; exec sleep 300`)
	x.Env["PIDS"] = pids
	if err := e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	waitFile(t, pids)
	data, _ := os.ReadFile(pids)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	st, err := readStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.ppid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the keeper %d: %v", st.ppid, err)
	}
	rec.Finish(t, 20*time.Second)
	for deadline := time.Now().Add(10 * time.Second); len(alive(t, pids)) > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the command %d still runs 10s after its keeper %d was killed", pid, st.ppid)
		}
	}
}

// waitFile waits until a run has written file.
func waitFile(t *testing.T, file string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if data, err := os.ReadFile(file); err == nil && len(data) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run did not write %s", file)
		}
	}
}

// TestSweep is a crash as the next server sees it: a run's keeper that could not end the
// run when its server died (it was stopped) is found by its record, and it and every
// process under it are killed before the run is retried.
func TestSweep(t *testing.T) {
	t.Parallel()
	e, rec := setup(t)
	pids := filepath.Join(t.TempDir(), "pids")
	x := execution("r1", time.Minute, "sh", "-c", `(setsid sleep 300 & echo $! >> "$PIDS") ; sleep 300 & echo $! >> "$PIDS"; echo $PPID >> "$PIDS"; exec sleep 301`)
	x.Env["PIDS"] = pids
	if err := e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	waitFile(t, pids)
	for len(strings.Fields(readFile(t, pids))) < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	keeper, ok := e.recorded("r1")
	if !ok {
		t.Fatal("no live keeper recorded for the run")
	}
	syscall.Kill(keeper, syscall.SIGSTOP)

	// The next server: another executor on the same work directory.
	next := New(Options{Reporter: rec, Logs: rec, WorkDir: e.opts.WorkDir, KillGrace: time.Second})
	if err := next.Sweep(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	if left := alive(t, pids); len(left) > 0 {
		t.Errorf("processes %v of the run still run after Sweep", left)
	}
	if _, err := os.Stat(e.workDir("r1")); !os.IsNotExist(err) {
		t.Errorf("the run's working directory outlived Sweep: %v", err)
	}
	if _, ok := next.recorded("r1"); ok {
		t.Error("the keeper is still recorded as running")
	}
	rec.Finish(t, 20*time.Second) // the first executor loses track of it
}

func readFile(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestKeeperReused runs one run after another on one executor: the second runs under the
// keeper of the first, once everything of the first is gone, and the executor's end ends
// the waiting keeper.
func TestKeeperReused(t *testing.T) {
	t.Parallel()
	e, rec := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- e.Run(ctx) }()
	pids := filepath.Join(t.TempDir(), "pids")
	var keepers []int
	for i, script := range []string{`sleep 300 & echo $! >> "$PIDS"; echo $PPID > "$PIDS.keeper"; sleep 30`, `echo $PPID > "$PIDS.keeper"; cat "$PIDS"`} {
		id := fmt.Sprintf("r%d", i)
		x := execution(id, time.Second, "sh", "-c", script)
		x.Env["PIDS"] = pids
		if err := e.Start(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		u := rec.Finish(t, 20*time.Second)
		keeper, err := strconv.Atoi(strings.TrimSpace(readFile(t, pids+".keeper")))
		if err != nil {
			t.Fatal(err)
		}
		keepers = append(keepers, keeper)
		if i == 1 && (u.Reason != "Completed" || rec.Log(id) != readFile(t, pids)) {
			t.Errorf("the second run: %s %q, log %q", u.Reason, u.Message, rec.Log(id))
		}
	}
	if keepers[0] != keepers[1] {
		t.Errorf("the runs had keepers %v; want the second to reuse the first's", keepers)
	}
	if left := alive(t, pids); len(left) > 0 {
		t.Errorf("processes %v of the first run still run", left)
	}
	cancel()
	<-stopped
	if st, err := readStat(keepers[0]); err == nil && st.alive() {
		t.Errorf("keeper %d still runs after the executor stopped", keepers[0])
	}
}

// TestDescendants lists a tree through the children files and by reading every process's
// parent: both find the same processes.
func TestDescendants(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("sh", "-c", "sleep 30 & sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		killTree(cmd.Process.Pid, true)
		cmd.Wait()
	}()
	var byChildren, byScan []int
	for deadline := time.Now().Add(10 * time.Second); len(byChildren) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if byChildren, err = descendants(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
	}
	byScan, err := descendantsByScan(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(byChildren)
	slices.Sort(byScan)
	if len(byChildren) != 2 || !slices.Equal(byChildren, byScan) {
		t.Errorf("descendants = %v, by a scan of /proc %v; want the same two sleeps", byChildren, byScan)
	}
}

// TestLargeSpec: a run whose spec does not fit in the keeper's control reaches its keeper
// through a pipe of its own, and a keeper takes runs of both kinds one after the other.
func TestLargeSpec(t *testing.T) {
	t.Parallel()
	e, rec := setup(t)
	big := strings.Repeat("x", 2*maxInlineSpec)
	for i, value := range []string{"small", big, "small again"} {
		id := fmt.Sprintf("r%d", i)
		x := execution(id, time.Minute, "sh", "-c", `printf %s "$BIG" | wc -c`)
		x.Env["BIG"] = value
		if err := e.Start(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		if u := rec.Finish(t, 20*time.Second); u.State != job.StateSucceeded {
			t.Fatalf("run %s: %+v", id, u)
		}
		executetest.WaitIdle(t, e)
		if got, want := strings.TrimSpace(rec.Log(id)), fmt.Sprint(len(value)); got != want {
			t.Errorf("run %s saw $BIG of %s bytes; want %s", id, got, want)
		}
	}
}

// TestPathCache: a program found on a PATH is found there again without a look in the
// folders before it, as long as it is still there and for a second; once it is gone, or
// the second is up, the PATH is searched again.
func TestPathCache(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	path := first + string(filepath.ListSeparator) + second
	install := func(dir string) string {
		p := filepath.Join(dir, "prog")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inSecond := install(second)
	var c pathCache
	if got, err := c.lookPath("prog", path); err != nil || got != inSecond {
		t.Fatalf("lookPath: %q, %v; want %q", got, err, inSecond)
	}
	inFirst := install(first)
	if got, _ := c.lookPath("prog", path); got != inSecond {
		t.Errorf("within the second, found %q; want the remembered %q", got, inSecond)
	}
	for k, f := range c.found {
		f.at = f.at.Add(-pathCacheTTL)
		c.found[k] = f
	}
	if got, _ := c.lookPath("prog", path); got != inFirst {
		t.Errorf("after the second, found %q; want %q", got, inFirst)
	}
	if err := os.Remove(inFirst); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.lookPath("prog", path); got != inSecond {
		t.Errorf("once the remembered program is gone, found %q; want %q", got, inSecond)
	}
	if got, err := c.lookPath("other", path); err == nil {
		t.Errorf("a program on no folder of the PATH was found at %q", got)
	}
}

// TestKeeperWaitsBlocked: a keeper polls unseen by the Go runtime (waitRaw) only for the
// first moments of a wait. Under a run that goes on, and idle after it, it soon waits in a
// system call the runtime knows of, so a keeper that waits long costs no CPU.
func TestKeeperWaitsBlocked(t *testing.T) {
	t.Parallel()
	e, rec := setup(t)
	keeper := startUnderKeeper(t, e, "exec sleep 2")
	// The runtime's poll waits with no timeout (a null pointer, its third argument); the
	// raw one until its deadline.
	waitSyscall(t, keeper, "under a run", func(call []string) bool {
		return len(call) > 3 && call[0] == strconv.Itoa(unix.SYS_PPOLL) && call[3] == "0x0"
	})
	if u := rec.Finish(t, 20*time.Second); u.State != job.StateSucceeded {
		t.Fatalf("the run %s: %s", u.State, u.Message)
	}
	waitSyscall(t, keeper, "idle", func(call []string) bool {
		return len(call) > 0 && call[0] == strconv.Itoa(unix.SYS_RECVMSG)
	})
}

// startUnderKeeper starts run r1 of sh -c script, and returns the pid of its keeper once
// the shell has written it (its parent's).
func startUnderKeeper(t *testing.T, e *Executor, script string) int {
	t.Helper()
	pids := filepath.Join(t.TempDir(), "pids")
	x := execution("r1", time.Minute, "sh", "-c", `echo $PPID > "$PIDS"; `+script)
	x.Env["PIDS"] = pids
	if err := e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	waitFile(t, pids)
	keeper, err := strconv.Atoi(strings.TrimSpace(readFile(t, pids)))
	if err != nil {
		t.Fatal(err)
	}
	return keeper
}

// waitSyscall waits up to 10 s for a thread of process pid to block in a system call that
// want accepts: its number and arguments, as /proc/PID/task/TID/syscall gives them. (The
// keeper's locked thread is the one that makes the calls looked for: the runtime's own
// threads wait in futex and epoll_pwait.)
func waitSyscall(t *testing.T, pid int, when string, want func(call []string) bool) {
	t.Helper()
	var last []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/syscall", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("keeper %d %s: no threads (%v)", pid, when, err)
		}
		last = last[:0]
		for _, task := range tasks {
			data, err := os.ReadFile(task)
			if errors.Is(err, os.ErrPermission) {
				t.Skipf("cannot read a process's system call: %v", err)
			}
			call := strings.TrimSpace(string(data))
			if err == nil && want(strings.Fields(call)) {
				return
			}
			last = append(last, call)
		}
	}
	t.Errorf("keeper %d %s: its threads in system calls %q after 10 s", pid, when, last)
}

// TestSignalsDefault: a run's command starts with every signal at its default, as in a
// container, even when the server was started with SIGHUP and SIGINT ignored (nohup, or &
// in a script), which a keeper would pass on: a script's trap on HUP or INT works. Not
// parallel: the test process ignores the two signals while it runs.
func TestSignalsDefault(t *testing.T) {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT)
	defer signal.Reset(syscall.SIGHUP, syscall.SIGINT)
	e, rec := setup(t)
	if err := e.Start(context.Background(), execution("r1", time.Minute, "sh", "-c", `grep SigIgn /proc/self/status`)); err != nil {
		t.Fatal(err)
	}
	if u := rec.Finish(t, 20*time.Second); u.State != job.StateSucceeded {
		t.Fatalf("the run %s: %s", u.State, u.Message)
	}
	_, mask, _ := strings.Cut(strings.TrimSpace(rec.Log("r1")), "\t")
	ignored, err := strconv.ParseUint(mask, 16, 64)
	if err != nil {
		t.Fatalf("the command's ignored signals: %q", rec.Log("r1"))
	}
	if ignored != 0 {
		t.Errorf("the command started with signals ignored (SigIgn %s); want none", mask)
	}
}

// TestKeeperHangup: a keeper sent SIGHUP (the kernel's, when its process group is orphaned
// by its server's death) carries on with its run.
func TestKeeperHangup(t *testing.T) {
	t.Parallel()
	e, rec := setup(t)
	keeper := startUnderKeeper(t, e, "sleep 1; echo done")
	if err := syscall.Kill(keeper, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if u := rec.Finish(t, 20*time.Second); u.State != job.StateSucceeded || rec.Log("r1") != "done\n" {
		t.Errorf("the run after its keeper's SIGHUP: %s %s %q, log %q", u.State, u.Reason, u.Message, rec.Log("r1"))
	}
}

// TestNoTerminal: a run's command has no controlling terminal even when the server has
// one (started from a shell): a job that opens /dev/tty fails rather than writing to, or
// waiting on, the server's terminal. The test runs itself again under script(1), which
// gives it a terminal of its own.
func TestNoTerminal(t *testing.T) {
	if os.Getenv("DOCKET_TEST_IN_TERMINAL") == "" {
		t.Parallel()
		script, err := exec.LookPath("script") // Debian's bsdutils, an essential package
		if err != nil {
			t.Skip("no script(1) to give the test a terminal")
		}
		cmd := exec.Command(script, "-qec", "'"+os.Args[0]+"' -test.run '^TestNoTerminal$' -test.v", "/dev/null")
		cmd.Env = append(os.Environ(), "DOCKET_TEST_IN_TERMINAL=1")
		out, err := cmd.CombinedOutput()
		if err != nil && strings.Contains(string(out), "pseudo-terminal") {
			t.Skipf("script(1) could not make a terminal here: %s", out)
		}
		if err != nil || !strings.Contains(string(out), "--- PASS: TestNoTerminal") {
			t.Fatalf("under a terminal: %v\n%s", err, out)
		}
		return
	}
	// tty_nr is the seventh field of /proc/PID/stat: pid comm state ppid pgrp session tty_nr.
	own := strings.Fields(readFile(t, "/proc/self/stat"))
	if len(own) < 7 || own[6] == "0" {
		t.Fatalf("script gave the test no terminal: %q", own)
	}
	e, rec := setup(t)
	x := execution("r1", time.Minute, "sh", "-c", `read -r pid comm state ppid pgrp sid tty rest < /proc/self/stat; echo $tty; echo hello > /dev/tty`)
	if err := e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	u := rec.Finish(t, 20*time.Second)
	log := rec.Log("r1")
	if !strings.HasPrefix(log, "0\n") || u.State != job.StateFailed || !strings.Contains(log, "/dev/tty") {
		t.Errorf("the command's terminal: run %s, log %q; want tty 0 and /dev/tty refused", u.State, log)
	}
}
