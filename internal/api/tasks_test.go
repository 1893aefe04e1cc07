package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/dispatch"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/record"
)

// taskFixture is an API with tokens and run tokens, whose tasks are resolved by a
// dispatcher that gives runs DOCKET_API and their own token, as the server's does, and
// an array of four tasks (inputs a to d) of a job with two retries.
type taskFixture struct {
	*fixture
	secrets map[string]string
	tokens  *auth.RunTokens
	rec     *record.Recorder
	array   job.Run
}

func setupTasks(t *testing.T) *taskFixture {
	t.Helper()
	f, secrets := setupAuth(t)
	tokens := auth.NewRunTokens([]byte("0123456789abcdef0123456789abcdef"))
	f.api.opts.RunTokens = tokens
	log := slog.New(slog.DiscardHandler)
	rec := record.New(record.Options{Store: f.store, Logger: log, Now: func() time.Time { return f.now }})
	f.api.opts.Tasks = dispatch.New(dispatch.Options{Store: f.store, Executor: idle{}, Reporter: rec, Logger: log,
		RunEnv: func(id string) map[string]string {
			return map[string]string{"DOCKET_API": "http://docket.test", "DOCKET_TOKEN": tokens.For(id)}
		}})
	admin := []string{"Authorization", "Bearer " + secrets["admin"]}
	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob, admin...); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"inputs": ["a", "b", "c", "d"]}`, admin...)
	tf := &taskFixture{fixture: f, secrets: secrets, tokens: tokens, rec: rec}
	if err := json.Unmarshal(body, &tf.array); code != 201 || err != nil {
		t.Fatalf("submit an array: %d %s", code, body)
	}
	return tf
}

// task returns the attempts of task index so far.
func (f *taskFixture) task(t *testing.T, index int) []job.Run {
	t.Helper()
	first, err := f.store.RunTask(context.Background(), f.array.ID, index)
	if err != nil {
		t.Fatal(err)
	}
	attempts, err := f.store.RunAttempts(context.Background(), first.ID)
	if err != nil {
		t.Fatal(err)
	}
	return attempts
}

// move takes a run along the states given, as the executor would report them.
func (f *taskFixture) move(t *testing.T, id string, steps ...job.Update) {
	t.Helper()
	for _, u := range steps {
		u.RunID = id
		if err := f.rec.Report(context.Background(), u); err != nil {
			t.Fatalf("move run %s to %s: %v", id, u.State, err)
		}
	}
}

// start asks for a task's start with a token and returns the status and answer.
func (f *taskFixture) start(t *testing.T, token, path string) (int, TaskStart, string) {
	t.Helper()
	code, body := f.call(t, "GET", "/api/v1/runs/"+f.array.ID+"/tasks/"+path, "", "", "Authorization", "Bearer "+token)
	var out TaskStart
	if code == 200 {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return code, out, string(body)
}

// TestTaskStart: a pod of an array's Indexed Job is told, by index and attempt, to run
// the attempt's own command and env (its own token too) while it has not ended, to skip
// one that succeeded, to stop once it ended otherwise or will never be made, and to wait
// while the attempt before has not been recorded as ended.
func TestTaskStart(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	exit2 := 2
	running := []job.Update{{State: job.StateDispatched}, {State: job.StateRunning, Reason: job.ReasonStarted}}
	// Task 1 failed once and is retried; task 2 succeeded; task 3 was cancelled.
	f.move(t, f.task(t, 1)[0].ID, append(running, job.Update{State: job.StateFailed, Reason: job.ReasonExitCode, ExitCode: &exit2, Message: "exited with code 2"})...)
	f.move(t, f.task(t, 2)[0].ID, append(running, job.Update{State: job.StateSucceeded, Reason: job.ReasonCompleted})...)
	f.move(t, f.task(t, 3)[0].ID, job.Update{State: job.StateCancelled, Reason: job.ReasonCancelled, Message: "cancelled by ann"})
	task0, task1, task2, task3 := f.task(t, 0), f.task(t, 1), f.task(t, 2), f.task(t, 3)
	if len(task1) != 2 {
		t.Fatalf("task 1 has %d attempts; want its retry", len(task1))
	}
	token := f.tokens.For(f.array.ID)

	tests := []struct {
		path string
		want TaskStart
	}{
		{"0/start", TaskStart{Action: job.TaskRun, RunID: task0[0].ID, Attempt: 1}},
		{"0/start?attempt=2", TaskStart{Action: job.TaskWait, RunID: task0[0].ID, Attempt: 2,
			Message: "task 0: attempt 1 is queued; attempt 2 is made once its end is recorded"}},
		{"1/start?attempt=1", TaskStart{Action: job.TaskStop, RunID: task1[0].ID, Attempt: 1,
			Message: "task 1 attempt 1 ended (failed, exit code 2: exited with code 2)"}},
		{"1/start?attempt=2", TaskStart{Action: job.TaskRun, RunID: task1[1].ID, Attempt: 2}},
		{"1/start?attempt=3", TaskStart{Action: job.TaskWait, RunID: task1[1].ID, Attempt: 3,
			Message: "task 1: attempt 2 is queued; attempt 3 is made once its end is recorded"}},
		{"2/start", TaskStart{Action: job.TaskSkip, RunID: task2[0].ID, Attempt: 1, Message: "task 2 attempt 1 succeeded already"}},
		{"3/start", TaskStart{Action: job.TaskStop, RunID: task3[0].ID, Attempt: 1,
			Message: "task 3 attempt 1 ended (cancelled, Cancelled: cancelled by ann)"}},
		{"3/start?attempt=2", TaskStart{Action: job.TaskStop, RunID: task3[0].ID, Attempt: 2,
			Message: "task 3 ended (cancelled, Cancelled: cancelled by ann) after attempt 1; attempt 2 will not run"}},
	}
	for _, tt := range tests {
		code, got, body := f.start(t, token, tt.path)
		if code != 200 {
			t.Errorf("%s: %d %s", tt.path, code, body)
			continue
		}
		if got.Action == job.TaskRun {
			// The command and env are checked below; here only which run it is.
			got.Command, got.Env = nil, nil
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.path, diff)
		}
	}

	// A run's command and env are its own, as the dispatcher resolves them.
	_, got, _ := f.start(t, token, "1/start?attempt=2")
	retry := task1[1]
	wantEnv := map[string]string{"DOCKET_RUN_ID": retry.ID, "DOCKET_ATTEMPT": "2", "DOCKET_TASK_INDEX": "1", "DOCKET_TASK_INPUT": "b",
		"DOCKET_TASK_COUNT": "4", "DOCKET_PARENT_RUN_ID": f.array.ID, "DOCKET_JOB": "nightly", "MODE": "full",
		"DOCKET_API": "http://docket.test", "DOCKET_TOKEN": f.tokens.For(retry.ID)}
	for k, v := range wantEnv {
		if got.Env[k] != v {
			t.Errorf("env %s = %q; want %q", k, got.Env[k], v)
		}
	}
	if want := []string{"python", "train.py", "--date"}; len(got.Command) != 4 || !cmp.Equal(got.Command[:3], want) || got.Inputs != 0 {
		t.Errorf("command %q with %d inputs; want %q and a date, no inputs", got.Command, got.Inputs, want)
	}
	if id, ok := f.tokens.Check(got.Env["DOCKET_TOKEN"]); !ok || id != retry.ID {
		t.Errorf("the token given is of run %q; want the task's own, %s", id, retry.ID)
	}
}

// TestTaskStartRefused: bad indexes and attempts are 400s naming the field; a run that is
// no array is 409, an unknown one 404; only the array's own token or an Editor's may ask.
func TestTaskStartRefused(t *testing.T) {
	t.Parallel()
	f := setupTasks(t)
	array := f.tokens.For(f.array.ID)
	task0 := f.task(t, 0)[0]
	for _, tt := range []struct {
		token, path string
		code        int
		want        string
	}{
		{array, "x/start", 400, `"field":"index"`},
		{array, "-1/start", 400, `"field":"index"`},
		{array, "4/start", 400, "has 4 (0 to 3)"},
		{array, "10000/start", 400, `"field":"index"`},
		{array, "99999999999999999999999/start", 400, `"field":"index"`},
		{array, "0/start?attempt=0", 400, `"field":"attempt"`},
		{array, "0/start?attempt=two", 400, `"field":"attempt"`},
		{array, "0/start?attempt=1001", 400, `"field":"attempt"`},
		{f.tokens.For(task0.ID), "0/start", 403, "only on that run"},
		{f.secrets["viewer"], "0/start", 403, "needs editor"},
		{"dkt_not-a-token", "0/start", 401, "unauthorized"},
		{f.secrets["editor"], "0/start", 200, `"action":"run"`},
		{array, "0/start", 200, `"action":"run"`},
	} {
		code, _, body := f.start(t, tt.token, tt.path)
		if code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s; want %d with %s", tt.path, code, body, tt.code, tt.want)
		}
	}
	admin := []string{"Authorization", "Bearer " + f.secrets["admin"]}
	code, body := f.call(t, "GET", "/api/v1/runs/"+task0.ID+"/tasks/0/start", "", "", admin...)
	if code != 409 || !strings.Contains(string(body), "no array run") {
		t.Errorf("a task as the array: %d %s; want 409", code, body)
	}
	code, body = f.call(t, "GET", fmt.Sprintf("/api/v1/runs/%s/tasks/0/start", job.NewRunID(f.now)), "", "", admin...)
	if code != 404 {
		t.Errorf("an unknown run: %d %s; want 404", code, body)
	}
}
