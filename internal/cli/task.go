package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// The files docket task start leaves for docket task exec in the folder both share.
const (
	startFile  = "start.json"
	binaryFile = "docket"
)

// taskStarted is what docket task start writes to DIR/start.json: the server's answer and
// where the task's input files are.
type taskStarted struct {
	client.TaskStart
	InputsDir string `json:"inputs_dir,omitempty"`
}

func taskCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "task",
		Short: "From inside a pod of an array's Indexed Job: learn which task it runs, then run it",
		Long: `Every pod of an array's Indexed Job has the same template. Its init container runs
'docket task start', which asks the server which task run and attempt the pod is (by its
completion index and failed pods so far), fetches that run's input files and leaves the
answer and a copy of the docket binary in a shared folder; the job's container runs
'docket task exec' from that folder, which runs the task's own command with its own env.`,
	}
	cmd.AddCommand(taskStartCmd(e), taskExecCmd(e))
	return cmd
}

func taskStartCmd(e *env) *cobra.Command {
	var (
		dir, inputs, runID string
		index, attempt     int
		wait               time.Duration
	)
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Ask the server what this pod runs, fetch its inputs, leave it for docket task exec",
		Long: `Ask the server which task attempt this pod is: the array run DOCKET_RUN_ID, the index
JOB_COMPLETION_INDEX (Kubernetes sets it in an Indexed Job's pods) and the attempt, one more
than DOCKET_TASK_FAILURES (the index's failed pods so far). Reads DOCKET_API and DOCKET_TOKEN
(the array's run token).

  run    writes DIR/start.json, fetches the task run's input files (with its own token)
         into --inputs, and copies this binary to DIR/docket for the job's container
  skip   the attempt succeeded already (a task a resumed array carried over): the same,
         without inputs; docket task exec then exits 0
  wait   the attempt before has not been recorded as ended: asks again (1s, growing to 5s)
         for up to --wait, then exits 1
  stop   the attempt ended, or will never be made: prints why and exits 3`,
		Example: `  docket task start --dir /docket/task --inputs /docket/inputs
  JOB_COMPLETION_INDEX=1 docket task start --dir /tmp/task --attempt 2 --wait 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if runID == "" {
				return usageError{errors.New("no array run: DOCKET_RUN_ID is not set (task start runs inside a pod of an array), and --run is not given")}
			}
			var err error
			if !cmd.Flags().Changed("index") {
				if index, err = envInt("JOB_COMPLETION_INDEX", -1); err != nil {
					return usageError{err}
				}
				if index < 0 {
					return usageError{errors.New("no task index: JOB_COMPLETION_INDEX is not set (Kubernetes sets it in an Indexed Job's pods), and --index is not given")}
				}
			}
			if !cmd.Flags().Changed("attempt") {
				failures, err := envInt("DOCKET_TASK_FAILURES", 0)
				if err != nil {
					return usageError{err}
				}
				attempt = failures + 1
			}
			if index < 0 || attempt < 1 {
				return usageError{fmt.Errorf("--index %d --attempt %d: the index is 0 or more, the attempt 1 or more", index, attempt)}
			}
			if !cmd.Flags().Changed("server") {
				if api := os.Getenv("DOCKET_API"); api != "" {
					e.server = api
				}
			}
			c := e.client()
			ans, err := waitTaskStart(ctx, func() (client.TaskStart, error) { return c.TaskStart(ctx, runID, index, attempt) }, wait, e.stderr)
			if err != nil {
				return err
			}
			if e.structured() {
				if err := e.print(ans); err != nil {
					return err
				}
			}
			switch ans.Action {
			case job.TaskStop:
				return &ExitError{Code: job.TaskStopExitCode, Err: fmt.Errorf("nothing to run: %s", ans.Message)}
			case job.TaskSkip:
				fmt.Fprintf(e.stderr, "task %d attempt %d: nothing to run: %s\n", index, attempt, ans.Message)
				return leaveTask(dir, taskStarted{TaskStart: ans})
			case job.TaskRun:
				started := taskStarted{TaskStart: ans}
				if ans.Inputs > 0 {
					// The task run's own token reads its files (the array's reads the array's).
					tc := e.client()
					if tok := ans.Env["DOCKET_TOKEN"]; tok != "" {
						tc.Token = tok
					}
					if err := fetchInputs(ctx, tc, ans.RunID, inputs, e.stderr); err != nil {
						return err
					}
					started.InputsDir = inputs
				}
				fmt.Fprintf(e.stderr, "task %d attempt %d: run %s\n", index, attempt, ans.RunID)
				return leaveTask(dir, started)
			}
			return fmt.Errorf("the server answered action %q, which this docket does not know (is it older than the server?)", ans.Action)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "/docket/task", "the folder shared with the job's container: start.json and the docket binary go there")
	f.StringVar(&inputs, "inputs", "/docket/inputs", "the folder the task's input files go to")
	f.StringVar(&runID, "run", os.Getenv("DOCKET_RUN_ID"), "the array run (env DOCKET_RUN_ID)")
	f.IntVar(&index, "index", 0, "the task index (default: env JOB_COMPLETION_INDEX)")
	f.IntVar(&attempt, "attempt", 0, "the attempt, from 1 (default: env DOCKET_TASK_FAILURES + 1)")
	f.DurationVar(&wait, "wait", 10*time.Minute, "how long to wait for an attempt Docket has not made yet")
	return cmd
}

// envInt reads a whole number of 0 or more from the environment; unset or empty gives def.
func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%.20q is not a whole number of 0 or more", name, s)
	}
	return n, nil
}

// waitTaskStart asks until the answer is other than wait, 1s apart growing to 5s, saying
// on progress each time it waits; it gives up after wait. A server it cannot reach, or
// that answers 429 or 5xx, is asked again too: a pod that failed for it would count as a
// failed attempt of its task.
func waitTaskStart(ctx context.Context, ask func() (client.TaskStart, error), wait time.Duration, progress io.Writer) (client.TaskStart, error) {
	giveUp := time.Now().Add(wait)
	pause := time.Second
	for {
		ans, err := ask()
		why := ans.Message
		switch {
		case err != nil && !transient(err):
			return ans, err
		case err != nil:
			why = err.Error()
		case ans.Action != job.TaskWait:
			return ans, nil
		}
		left := time.Until(giveUp)
		if left <= 0 {
			return ans, fmt.Errorf("gave up after %s: %s", wait, why)
		}
		pause = min(pause, left)
		fmt.Fprintf(progress, "waiting %s: %s\n", pause, why)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ans, ctx.Err()
		case <-t.C:
		}
		pause = min(pause+time.Second, 5*time.Second)
	}
}

// transient reports whether an error may pass if asked again: the server was not reached,
// or answered 429 or 5xx.
func transient(err error) bool {
	var ae *client.Error
	if !errors.As(err, &ae) {
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	return ae.Status == http.StatusTooManyRequests || ae.Status >= 500
}

// leaveTask leaves what docket task exec needs in dir: a copy of this binary, then
// start.json, each written whole before it is renamed into place.
func leaveTask(dir string, started taskStarted) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the docket binary to copy: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("copy the docket binary: %w", err)
	}
	defer src.Close()
	if err := writeWhole(filepath.Join(dir, binaryFile), 0o755, func(w io.Writer) error { _, err := io.Copy(w, src); return err }); err != nil {
		return fmt.Errorf("copy the docket binary: %w", err)
	}
	data, err := json.MarshalIndent(started, "", "  ")
	if err != nil {
		return err
	}
	return writeWhole(filepath.Join(dir, startFile), 0o644, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// writeWhole writes a file through a temporary one renamed into place, so a reader finds
// it whole or not at all.
func writeWhole(path string, mode os.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
