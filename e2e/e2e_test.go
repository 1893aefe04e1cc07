package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

const definitions = `# Jobs for the end-to-end test.
name: greet
image: busybox:1.36
command: ["sh", "-c", "echo job=$DOCKET_JOB run=$DOCKET_RUN_ID attempt=$DOCKET_ATTEMPT slot=$DOCKET_SCHEDULED_TIME mode=$MODE date={{ .ScheduledDate }} tmpl_run={{ .RunID }}; echo to-stderr >&2"]
cpu: 100m
memory: 64Mi
concurrency: allow
env: {MODE: file}
---
name: tick
image: busybox:1.36
command: ["sh", "-c", "echo tick slot=$DOCKET_SCHEDULED_TIME"]
cpu: 100m
memory: 64Mi
schedule: "@every 2s"
catchup: none
concurrency: allow
---
name: flaky
image: busybox:1.36
command: ["sh", "-c", "echo attempt $DOCKET_ATTEMPT; exit 3"]
cpu: 100m
memory: 64Mi
retries: 1
---
name: sleepy
image: busybox:1.36
command: ["sleep", "30"]
cpu: 100m
memory: 64Mi
deadline: 1s
---
name: nap
image: busybox:1.36
command: ["sleep", "30"]
cpu: 100m
memory: 64Mi
---
name: chatty
image: busybox:1.36
command: ["sh", "-c", "for i in 1 2 3 4; do echo line $i; sleep 0.4; done"]
cpu: 100m
memory: 64Mi
---
name: ghost
image: busybox:1.36
command: ["no-such-program-here"]
cpu: 100m
memory: 64Mi
retries: 3
`

var wantLifecycle = []job.State{job.StateQueued, job.StateDispatched, job.StatePending, job.StateRunning, job.StateSucceeded}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	forEachStore(t, testEndToEnd)
}

func testEndToEnd(t *testing.T, storeFlags []string) {
	dir := t.TempDir()
	s := startServer(t, dir+"/data", append(storeFlags, "--retry-backoff", "500ms", "--kill-grace", "1s")...)
	file := writeFile(t, dir, "jobs.yaml", definitions)

	out, errOut, code := s.cli("apply", "-f", file)
	if code != 0 || strings.Count(out, "created (revision 1)") != 7 {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	// Applying the same file again changes nothing.
	if out, _, _ := s.cli("apply", "-f", file); strings.Count(out, "unchanged") != 7 {
		t.Errorf("second apply:\n%s", out)
	}

	t.Run("cli run --wait succeeds with the env contract in the logs", func(t *testing.T) {
		out, errOut, code := s.cli("run", "greet", "--wait", "--logs", "--env", "MODE=cli")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		id := regexp.MustCompile(`run (\S+) succeeded`).FindStringSubmatch(out)
		if id == nil {
			t.Fatalf("no success line in:\n%s", out)
		}
		for _, want := range []string{"job=greet run=" + id[1] + " attempt=1", "mode=cli", "tmpl_run=" + id[1], "to-stderr", "date=" + s.run(id[1]).CreatedAt.UTC().Format(time.DateOnly)} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		for _, want := range []string{"queued", "running", "succeeded", "ImageNotUsed", "ResourcesNotEnforced"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("progress lacks %q:\n%s", want, errOut)
			}
		}
		if diff := cmp.Diff(wantLifecycle, states(s.events(id[1]))); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
	})

	t.Run("api run with idempotency key", func(t *testing.T) {
		var r1, r2 job.Run
		s1 := s.api("POST", "/api/v1/jobs/greet/runs", `{"env":{"MODE":"api"}}`, &r1, "Idempotency-Key", "e2e-1")
		s2 := s.api("POST", "/api/v1/jobs/greet/runs", `{"env":{"MODE":"api"}}`, &r2, "Idempotency-Key", "e2e-1")
		if s1 != 201 || s2 != 200 || r1.ID != r2.ID || r1.Trigger != job.TriggerAPI {
			t.Fatalf("submits: %d %d, runs %s %s trigger %s", s1, s2, r1.ID, r2.ID, r1.Trigger)
		}
		r := s.waitTerminal(r1.ID, 20*time.Second)
		if r.State != job.StateSucceeded || r.ExitCode == nil || *r.ExitCode != 0 || r.StartedAt == nil || r.FinishedAt == nil {
			t.Errorf("run: %+v", r)
		}
		logs := s.logs(r.ID)
		slot := r.CreatedAt.Format(time.RFC3339)
		for _, want := range []string{"mode=api", "run=" + r.ID, "slot=" + slot, "to-stderr\n"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		}
		if diff := cmp.Diff(wantLifecycle, states(s.events(r.ID))); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
	})

	t.Run("failure retries and exits with the job's code", func(t *testing.T) {
		out, errOut, code := s.cli("run", "flaky", "--wait")
		if code != 3 || !strings.Contains(out, "exited with code 3") || !strings.Contains(errOut, "retrying as run") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		runs := s.allRuns("job=flaky")
		if len(runs) != 2 {
			t.Fatalf("%d runs of flaky, want 2 (the first attempt and one retry)", len(runs))
		}
		retry, first := runs[0], runs[1]
		if first.Attempt != 1 || retry.Attempt != 2 || retry.RetryOf != first.ID || retry.Trigger != job.TriggerRetry {
			t.Errorf("attempts: first %+v retry %+v", first, retry)
		}
		for _, r := range runs {
			if r.State != job.StateFailed || r.Reason != "ExitCode" || r.ExitCode == nil || *r.ExitCode != 3 {
				t.Errorf("run %s: %s %s exit %v", r.ID, r.State, r.Reason, r.ExitCode)
			}
		}
		if logs := s.logs(retry.ID); logs != "attempt 2\n" {
			t.Errorf("retry log = %q", logs)
		}
	})

	t.Run("deadline", func(t *testing.T) {
		out, _, code := s.cli("run", "sleepy", "--wait")
		if code == 0 || !strings.Contains(out, "exceeded its 1s deadline") {
			t.Errorf("exit %d: %s", code, out)
		}
	})

	t.Run("command not found is not retried", func(t *testing.T) {
		out, _, code := s.cli("run", "ghost", "--wait", "-o", "json")
		var r job.Run
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("exit %d, output not JSON: %s", code, out)
		}
		if code != 127 || r.Reason != "CommandNotFound" || r.Message != "command not found: no-such-program-here" {
			t.Errorf("exit %d, run %+v", code, r)
		}
		if runs := s.allRuns("job=ghost"); len(runs) != 1 {
			t.Errorf("%d runs of ghost, want 1", len(runs))
		}
	})

	t.Run("cancel", func(t *testing.T) {
		var r job.Run
		s.api("POST", "/api/v1/jobs/greet/runs", "", &r)
		s.waitTerminal(r.ID, 20*time.Second)
		// nap has the default deadline: a loaded machine may take more than sleepy's one
		// second between the run's start and the cancel.
		out, _, _ := s.cli("run", "nap", "-o", "json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(out)
		}
		waitFor(t, 10*time.Second, "nap to run", func() bool { return s.run(r.ID).State == job.StateRunning })
		if out, errOut, code := s.cli("cancel", r.ID); code != 0 {
			t.Fatalf("cancel: %d %s %s", code, out, errOut)
		}
		got := s.waitTerminal(r.ID, 10*time.Second)
		if got.State != job.StateCancelled || !strings.HasPrefix(got.Message, "cancelled by ") {
			t.Errorf("cancelled run: %s %q", got.State, got.Message)
		}
		if _, _, code := s.cli("cancel", r.ID); code == 0 {
			t.Error("cancelling a finished run succeeded")
		}
	})

	t.Run("logs -f follows a run to its end", func(t *testing.T) {
		out, _, _ := s.cli("run", "chatty", "-o", "json")
		var r job.Run
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(out)
		}
		waitFor(t, 10*time.Second, "chatty to start", func() bool { return s.run(r.ID).State != job.StateQueued })
		out, errOut, code := s.cli("logs", r.ID, "-f")
		if code != 0 || out != "line 1\nline 2\nline 3\nline 4\n" {
			t.Errorf("logs -f: exit %d %q %s", code, out, errOut)
		}
		if got := s.run(r.ID); got.State != job.StateSucceeded {
			t.Errorf("logs -f returned while the run is %s", got.State)
		}
	})

	t.Run("scheduled slot", func(t *testing.T) {
		var sched job.Run
		waitFor(t, 20*time.Second, "a scheduled run of tick to succeed", func() bool {
			for _, r := range s.allRuns("job=tick&state=succeeded") {
				if r.Trigger == job.TriggerSchedule {
					sched = r
					return true
				}
			}
			return false
		})
		slot := sched.ScheduledTime
		if slot == nil || slot.Unix()%2 != 0 || slot.Nanosecond() != 0 {
			t.Fatalf("slot %v is not on the 2s grid", slot)
		}
		if logs := s.logs(sched.ID); logs != fmt.Sprintf("tick slot=%s\n", slot.UTC().Format(time.RFC3339)) {
			t.Errorf("log = %q, want the slot time", logs)
		}
		if diff := cmp.Diff(wantLifecycle, states(s.events(sched.ID))); diff != "" {
			t.Errorf("states (-want +got):\n%s", diff)
		}
		var j struct {
			NextRuns []time.Time `json:"next_runs"`
			LastRun  *job.Run    `json:"last_run"`
		}
		s.api("GET", "/api/v1/jobs/tick", "", &j)
		if len(j.NextRuns) != 5 || j.LastRun == nil {
			t.Errorf("job view: next %v last %v", j.NextRuns, j.LastRun)
		}
	})

	t.Run("suspend records skipped slots", func(t *testing.T) {
		if _, _, code := s.cli("suspend", "tick"); code != 0 {
			t.Fatal("suspend failed")
		}
		waitFor(t, 10*time.Second, "a skipped slot", func() bool {
			for _, r := range s.allRuns("job=tick&state=skipped") {
				if r.Reason == "Suspended" {
					return true
				}
			}
			return false
		})
		if out, _, _ := s.cli("suspend", "tick"); out != "job tick was suspended already\n" {
			t.Errorf("suspend of a suspended job: %q", out)
		}
		if out, _, _ := s.cli("resume", "tick"); out != "job tick resumed\n" {
			t.Errorf("resume: %q", out)
		}
		if out, _, _ := s.cli("resume", "tick"); out != "job tick was not suspended\n" {
			t.Errorf("resume of a job not suspended: %q", out)
		}
	})

	t.Run("json output", func(t *testing.T) {
		out, _, code := s.cli("jobs", "-o", "json")
		var jobs struct {
			Jobs []struct{ Name string } `json:"jobs"`
		}
		if err := json.Unmarshal([]byte(out), &jobs); err != nil || code != 0 || len(jobs.Jobs) != 7 {
			t.Errorf("jobs -o json: exit %d, %d jobs, %v", code, len(jobs.Jobs), err)
		}
		out, _, _ = s.cli("runs", "--job", "flaky", "-o", "json")
		var runs struct{ Runs []job.Run }
		if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs.Runs) != 2 {
			t.Errorf("runs -o json: %d runs, %v", len(runs.Runs), err)
		}
		out, _, code = s.cli("next", "--schedule", "30 2 * * *", "--timezone", "America/New_York", "--from", "2026-03-07T12:00:00Z", "--count", "2")
		if code != 0 || out != "2026-03-08T03:30:00-04:00\n2026-03-09T02:30:00-04:00\n" {
			t.Errorf("next: exit %d\n%s", code, out)
		}
	})

	t.Run("describe job", func(t *testing.T) {
		out, errOut, code := s.cli("describe", "job", "tick")
		for _, want := range []string{"Name:       tick\n", "Command:    sh -c 'echo tick slot=$DOCKET_SCHEDULED_TIME'\n", "Revision:   1\n"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("describe job tick: exit %d, want the line %q in\n%s%s", code, want, out, errOut)
			}
		}
		out, _, code = s.cli("describe", "job", "tick", "-o", "json")
		var j job.Definition
		if err := json.Unmarshal([]byte(out), &j); err != nil || code != 0 || j.Name != "tick" || len(j.Command) != 3 {
			t.Errorf("describe job tick -o json: exit %d, %+v, %v", code, j.Spec, err)
		}
	})

	t.Run("bad input via the cli", func(t *testing.T) {
		bad := writeFile(t, dir, "bad.yaml", strings.Replace(definitions, `schedule: "@every 2s"`, `schedule: "@every 2 seconds"`, 1))
		_, errOut, code := s.cli("apply", "-f", bad)
		if code == 0 || !strings.Contains(errOut, "schedule:") || !strings.Contains(errOut, "document 2") {
			t.Errorf("exit %d: %s", code, errOut)
		}
		var j job.Definition
		s.api("GET", "/api/v1/jobs/tick", "", &j)
		if j.Schedule != "@every 2s" || j.Revision != 1 {
			t.Errorf("a rejected apply changed tick: %q revision %d", j.Schedule, j.Revision)
		}
		if _, errOut, code := s.cli("run", "greet", "--env", "NOEQUALS"); code != 2 || !strings.Contains(errOut, "KEY=VALUE") {
			t.Errorf("bad --env: exit %d %s", code, errOut)
		}
	})

	s.Stop()
	if !strings.Contains(s.Log(), "docket server stopped") {
		t.Errorf("no clean stop in the log")
	}
}
