package container

import (
	"bytes"
	"context"
	"hash/crc32"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/job"
)

func TestContainerConfig(t *testing.T) {
	t.Parallel()
	x := execution("r1", time.Minute, "python", "train.py", "--fast")
	x.Labels = map[string]string{"team": "ml"}
	cfg, host, err := containerConfig(x, "none")
	if err != nil {
		t.Fatal(err)
	}
	want := &container.Config{
		Image:      "img",
		Entrypoint: []string{"python"},
		Cmd:        []string{"train.py", "--fast"},
		Env:        []string{"DOCKET_RUN_ID=r1", "MODE=test"},
		Labels:     map[string]string{"team": "ml", LabelRun: "r1", LabelJob: "j", LabelAttempt: "1"},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if host.NanoCPUs != 500_000_000 || host.Memory != 64<<20 || host.MemorySwap != 64<<20 || host.NetworkMode != "none" {
		t.Errorf("host config: cpus %d memory %d swap %d network %q", host.NanoCPUs, host.Memory, host.MemorySwap, host.NetworkMode)
	}

	cfg, _, _ = containerConfig(execution("r1", time.Minute, "run-me"), "")
	if cfg.Cmd == nil || len(cfg.Cmd) != 0 {
		t.Errorf("a one-word command must drop the image's arguments; Cmd = %#v", cfg.Cmd)
	}
	cfg, _, _ = containerConfig(execution("r1", time.Minute), "")
	if cfg.Entrypoint != nil || cfg.Cmd != nil {
		t.Errorf("no command must keep the image's entrypoint; got %v %v", cfg.Entrypoint, cfg.Cmd)
	}
}

func execution(id string, deadline time.Duration, command ...string) job.Execution {
	return job.Execution{
		Run: job.Run{ID: id, Job: "j", Attempt: 1}, Image: "img", CPU: "500m", Memory: "64Mi",
		Command: command, Deadline: deadline,
		Env: map[string]string{"DOCKET_RUN_ID": id, "MODE": "test"},
	}
}

// setup returns an executor on the real engine and an execution of the test job image.
func setup(t *testing.T) (*Executor, *executetest.Recorder, func(deadline time.Duration, command ...string) job.Execution) {
	t.Helper()
	engine := enginetest.Engine(t)
	image := enginetest.JobImage(t, engine)
	rec := executetest.New()
	e := New(Options{Engine: engine, Reporter: rec, Logs: rec, KillGrace: time.Second, Network: "none"})
	return e, rec, func(deadline time.Duration, command ...string) job.Execution {
		x := execution(job.NewRunID(time.Now()), deadline, command...)
		x.Image = image
		x.Memory = "64Mi"
		x.CPU = "1"
		x.Env["DOCKET_RUN_ID"] = x.Run.ID
		return x
	}
}

// gone checks that the run's container was removed.
func gone(t *testing.T, e *Executor, runID string) {
	t.Helper()
	_, err := e.engine.ContainerInspect(context.Background(), Name(runID), client.ContainerInspectOptions{})
	if !cerrdefs.IsNotFound(err) {
		t.Errorf("container %s still exists (inspect: %v)", Name(runID), err)
	}
}

func TestOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command []string
		memory  string
		state   job.State
		reason  job.Reason
		message string
		code    int // -1: no exit code
		log     string
	}{
		{"success with env", []string{"testjob", "env"}, "64Mi",
			job.StateSucceeded, "Completed", "exited with code 0", 0, "DOCKET_RUN_ID=<id>\n"},
		{"exit code and both streams", []string{"testjob", "exit", "3"}, "64Mi",
			job.StateFailed, "ExitCode", "exited with code 3", 3, "stdout line\nstderr line\n"},
		{"command not found", []string{"no-such-program"}, "64Mi",
			job.StateFailed, "CommandNotFound", "command not found in image <image>: no-such-program", 127, ""},
		{"memory limit", []string{"testjob", "alloc", "256"}, "64Mi",
			job.StateFailed, "OOMKilled", "killed by the kernel for using more than its memory limit of 64Mi (exit code 137)", 137, ""},
		{"within the memory limit", []string{"testjob", "alloc", "16"}, "128Mi",
			job.StateSucceeded, "Completed", "exited with code 0", 0, "allocated 16 MiB\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, rec, exe := setup(t)
			x := exe(time.Minute, tt.command...)
			x.Memory = tt.memory
			if err := e.Start(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			u := rec.Finish(t, time.Minute)
			msg := strings.NewReplacer("<image>", x.Image).Replace(tt.message)
			if u.State != tt.state || u.Reason != tt.reason || u.Message != msg || u.ExitCode == nil || *u.ExitCode != tt.code {
				t.Errorf("final update %s %s %q exit %v; want %s %s %q exit %d\nupdates: %+v", u.State, u.Reason, u.Message, ptr(u.ExitCode), tt.state, tt.reason, msg, tt.code, rec.Updates(x.Run.ID))
			}
			// stdout and stderr are separate pipes: compare lines in any order.
			wantLog := sortedLines(strings.NewReplacer("<id>", x.Run.ID).Replace(tt.log))
			if got := sortedLines(rec.Log(x.Run.ID)); got != wantLog {
				t.Errorf("log = %q, want %q", got, wantLog)
			}
			if r := rec.Reasons(x.Run.ID); len(r) < 2 || r[0] != "Starting" || (tt.reason != "CommandNotFound" && r[1] != "Started") {
				t.Errorf("updates %v; want Starting, Started, ...", r)
			}
			executetest.WaitIdle(t, e)
			gone(t, e, x.Run.ID)
		})
	}
}

// sortedLines returns s with its lines sorted.
func sortedLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "")
}

func ptr(p *int) string {
	if p == nil {
		return "none"
	}
	return strconv.Itoa(*p)
}

// TestLogCatchUp cuts the log stream short as soon as each container exits, so the rest
// of the output comes from the catch-up read: the log must still be whole and in order,
// with nothing twice (after the note, if the live stream lost output).
func TestLogCatchUp(t *testing.T) {
	t.Parallel()
	engine := enginetest.Engine(t)
	image := enginetest.JobImage(t, engine)
	rec := executetest.New()
	e := New(Options{Engine: engine, Reporter: rec, Logs: rec, Network: "none", LogSettle: time.Nanosecond})
	for range 3 {
		x := execution(job.NewRunID(time.Now()), time.Minute, "testjob", "lines", "2000")
		x.Image = image
		if err := e.Start(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		if u := rec.Finish(t, time.Minute); u.State != job.StateSucceeded {
			t.Fatalf("run %s %s: %s", u.State, u.Reason, u.Message)
		}
		// stdout and stderr are separate pipes, so only each stream's own order holds.
		checkLines(t, rec.Log(x.Run.ID), 2000)
	}
}

func TestLineWriter(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	writes := []string{"abc", "de\nf", "g", "h\ni\njk", ""}
	w := &lineWriter{out: &out, skip: 3, want: crc32.ChecksumIEEE([]byte("abc"))}
	for _, p := range writes {
		if n, err := w.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	// The skipped bytes are gone and the partial last line is held back until Flush.
	if out.String() != "de\nfgh\ni\n" || w.written != 9 || w.lost {
		t.Errorf("passed on %q (%d bytes counted, lost %v); want \"de\\nfgh\\ni\\n\" (9)", out.String(), w.written, w.lost)
	}
	w.Flush()
	if out.String() != "de\nfgh\ni\njk" || w.written != 11 {
		t.Errorf("after Flush %q (%d bytes counted)", out.String(), w.written)
	}
	if w.sum != crc32.ChecksumIEEE([]byte(out.String())) {
		t.Errorf("sum %08x is not the CRC-32 of what was passed on", w.sum)
	}

	// Skipped bytes that are not the ones an earlier reader passed on: nothing more is.
	out.Reset()
	lost := &lineWriter{out: &out, skip: 3, want: crc32.ChecksumIEEE([]byte("abd"))}
	for _, p := range writes {
		lost.Write([]byte(p))
	}
	lost.Flush()
	if out.Len() != 0 || !lost.lost {
		t.Errorf("after a skip that differs: passed on %q, lost %v; want nothing, lost", out.String(), lost.lost)
	}

	out.Reset()
	long := &lineWriter{out: &out}
	long.Write(bytes.Repeat([]byte("x"), maxLine+1))
	if out.Len() != maxLine+1 {
		t.Errorf("a line past %d bytes is passed on without its newline; got %d bytes", maxLine, out.Len())
	}
}

func TestCPULimit(t *testing.T) {
	t.Parallel()
	e, rec, exe := setup(t)
	// The quota the engine set, as the container's cgroup has it: 50 ms of every 100 ms.
	files, want := []string{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"},
		"/sys/fs/cgroup/cpu/cpu.cfs_quota_us=50000\n/sys/fs/cgroup/cpu/cpu.cfs_period_us=100000\n"
	var fs unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		files, want = []string{"/sys/fs/cgroup/cpu.max"}, "/sys/fs/cgroup/cpu.max=50000 100000\n"
	}
	// run runs command under cpu 500m, to success, and returns its log.
	run := func(command ...string) string {
		t.Helper()
		x := exe(time.Minute, command...)
		x.CPU = "500m"
		if err := e.Start(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		if u := rec.Finish(t, time.Minute); u.State != job.StateSucceeded {
			t.Fatalf("run %s %s: %s; log %q", u.State, u.Reason, u.Message, rec.Log(x.Run.ID))
		}
		return rec.Log(x.Run.ID)
	}
	if log := run(append([]string{"testjob", "cat"}, files...)...); !strings.HasSuffix(log, want) {
		t.Errorf("the container's cgroup under cpu 500m: %q; want %q", log, want)
	}

	// And the quota holds: two busy goroutines use up to two cores unlimited, half of one
	// under it. A machine busy with other work may give them less, never more.
	log := run("testjob", "spin", "3s", "2")
	m := regexp.MustCompile(`cores ([0-9.]+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no cores line in the log %q", log)
	}
	cores, _ := strconv.ParseFloat(m[1], 64)
	if cores > 0.7 || cores <= 0 {
		t.Errorf("two spinning goroutines under cpu 500m used %.2f cores; want at most about 0.5", cores)
	}
}

func TestMissingImage(t *testing.T) {
	t.Parallel()
	e, rec, exe := setup(t)
	x := exe(time.Minute, "testjob", "env")
	x.Image = "localhost:1/docket/no-such-image:1"
	x.Notes = []job.Note{{Reason: job.ReasonResultMissing, Message: "a step's result had no such key"}}
	start := time.Now()
	if err := e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	u := rec.Finish(t, time.Minute)
	t.Logf("final update: %s %s: %s", u.State, u.Reason, u.Message)
	if u.State != job.StateFailed || u.Reason != "ImagePullFailed" || !strings.HasPrefix(u.Message, "could not pull image localhost:1/docket/no-such-image:1: ") {
		t.Errorf("final update %s %s %q; want failed ImagePullFailed naming the image", u.State, u.Reason, u.Message)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("a pull failure took %v to fail the run", d)
	}
	// The run's note is recorded with its pending state.
	if r := rec.Reasons(x.Run.ID); !cmp.Equal(r, []string{"Starting", "ResultMissing", "Pulling", "ImagePullFailed"}) {
		t.Errorf("reasons %v", r)
	}
	executetest.WaitIdle(t, e)
}

func TestStops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command []string
		stop    func(*Executor, string, context.CancelFunc)
		state   job.State
		reason  job.Reason
		message string
	}{
		{"deadline", []string{"testjob", "sleep", "60s"}, nil, job.StateFailed, "DeadlineExceeded", "exceeded its 3s deadline"},
		{"deadline kills a job that ignores SIGTERM", []string{"testjob", "ignore-term", "60s"}, nil, job.StateFailed, "DeadlineExceeded", "exceeded its 3s deadline"},
		{"cancel", []string{"testjob", "sleep", "60s"}, func(e *Executor, id string, _ context.CancelFunc) { e.Cancel(context.Background(), id, "ana@laptop") },
			job.StateCancelled, "Cancelled", "cancelled by ana@laptop"},
		{"server shutdown", []string{"testjob", "sleep", "60s"}, func(_ *Executor, _ string, cancel context.CancelFunc) { cancel() },
			job.StateFailed, "Interrupted", "the docket server stopped during the run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, rec, exe := setup(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go e.Run(ctx)
			deadline := 3 * time.Second
			if tt.stop != nil {
				deadline = time.Minute
			}
			x := exe(deadline, tt.command...)
			if err := e.Start(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			if tt.stop != nil {
				waitRunning(t, rec, x.Run.ID)
				tt.stop(e, x.Run.ID, cancel)
			}
			start := time.Now()
			u := rec.Finish(t, time.Minute)
			if u.State != tt.state || u.Reason != tt.reason || u.Message != tt.message {
				t.Errorf("final update %s %s %q; want %s %s %q", u.State, u.Reason, u.Message, tt.state, tt.reason, tt.message)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("stopping took %v", d)
			}
			if got := rec.Log(x.Run.ID); !strings.HasPrefix(got, "sleeping 1m0s\n") {
				t.Errorf("log = %q; want the job's first line", got)
			}
			executetest.WaitIdle(t, e)
			gone(t, e, x.Run.ID)
		})
	}
}

// waitRunning waits until the run's container has started and written its first line.
func waitRunning(t *testing.T, rec *executetest.Recorder, runID string) {
	t.Helper()
	for start := time.Now(); !strings.Contains(rec.Log(runID), "\n"); time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatalf("run %s did not start; updates %v", runID, rec.Reasons(runID))
		}
	}
}

func TestReap(t *testing.T) {
	t.Parallel()
	e, _, exe := setup(t)
	ctx := context.Background()
	mine, theirs := exe(time.Minute, "testjob", "sleep", "60s"), exe(time.Minute, "testjob", "sleep", "60s")
	for _, x := range []job.Execution{mine, theirs} {
		cfg, host, err := containerConfig(x, "none")
		if err != nil {
			t.Fatal(err)
		}
		c, err := e.engine.ContainerCreate(ctx, client.ContainerCreateOptions{Name: Name(x.Run.ID), Config: cfg, HostConfig: host})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.engine.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { e.remove(ctx, theirs.Run.ID, Name(theirs.Run.ID)) })
	e.opts.Orphaned = func(_ context.Context, runID string) bool { return runID == mine.Run.ID }
	n, err := e.Reap(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Reap = %d, %v; want 1 container removed", n, err)
	}
	gone(t, e, mine.Run.ID)
	if _, err := e.engine.ContainerInspect(ctx, Name(theirs.Run.ID), client.ContainerInspectOptions{}); err != nil {
		t.Errorf("another server's container was touched: %v", err)
	}
}

// BenchmarkRun measures one run end to end through the container executor: create, start,
// the job's exit, logs, inspect and removal, one run at a time (compare with the process
// executor's BenchmarkRun).
func BenchmarkRun(b *testing.B) {
	engine := enginetest.Engine(b)
	image := enginetest.JobImage(b, engine)
	rec := executetest.New()
	e := New(Options{Engine: engine, Reporter: rec, Logs: rec, KillGrace: time.Second, Network: "none"})
	for b.Loop() {
		x := execution(job.NewRunID(time.Now()), time.Minute, "testjob", "exit", "0")
		x.Image = image
		if err := e.Start(context.Background(), x); err != nil {
			b.Fatal(err)
		}
		if u := rec.Finish(b, time.Minute); u.State != job.StateSucceeded {
			b.Fatalf("run %s %s: %s", u.State, u.Reason, u.Message)
		}
	}
}
