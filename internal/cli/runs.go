package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// pollEvery is how often --wait looks at a run.
const pollEvery = 300 * time.Millisecond

func runCmd(e *env) *cobra.Command {
	var (
		envs, params   []string
		queue          string
		priority       int
		idempotencyKey string
		wait, showLogs bool
		dry            bool
		local          localRun
		isLocal        bool
		download       string
		array          arrayFlags
		inputs         inputFlags
	)
	cmd := &cobra.Command{
		Use:   "run NAME | run [NAME] -f FILE --local",
		Short: "Start a run of a job now, on the server or on this machine",
		Long: `Start a run of a job now. With --wait, show its progress until it finishes (following
retries; for a workflow, every step's) and exit with a non-zero code if it failed: the
job's exit code when it has one.

With -f FILE --local, run a job from a definition file right here, with no server: in a
container (--executor container, the default) on the Docker or Podman engine that
DOCKER_HOST names, else on the first that answers of Docker's socket, rootful Podman's and
rootless Podman's ($XDG_RUNTIME_DIR/podman/podman.sock); or as a plain process
(--executor process). Docket validates the file, runs the
job once with its env contract, deadline and retries, streams its output, and exits with
its exit code. NAME picks the job when the file defines several.

With --dry-run, the server checks the request and shows what the run would be, storing
and starting nothing: its queue and priority, its params, the rendered command and env,
and on the Kubernetes executor the batch/v1 Job it would create (-o yaml prints that Job
alone, for kubectl; -o json prints everything).`,
		Example: `  docket run nightly-train
  docket run nightly-train --wait --logs
  docket run nightly-train --env MODE=quick --idempotency-key nightly-2026-11-23
  docket run score --file model.pkl --dir ./src
  docket run score --each-file ./shards/ --wait
  docket run score --array 100 --parallelism 10
  docket run score --each-line shards.txt --max-failed 2 --wait --results > results.jsonl
  docket run train --param lr=0.1 --param date=2026-11-23 --priority 900
  docket run train --queue gpu-spare
  docket run train --param lr=0.1 --dry-run
  docket run train --dry-run -o yaml | kubectl apply --dry-run=server -f -
  docket run -f train.yaml --local
  docket run -f train.yaml --local --download ./out
  docket run nightly-train -f jobs.yaml --local --executor process --env MODE=quick`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := client.RunRequest{Env: map[string]string{}, Trigger: job.TriggerManual}
			for _, kv := range envs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--env %q: write KEY=VALUE", kv)}
				}
				req.Env[k] = v
			}
			req.Queue, req.Priority = queue, priority
			for _, kv := range params {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usageError{fmt.Errorf("--param %q: write NAME=VALUE", kv)}
				}
				if req.Params == nil {
					req.Params = map[string]string{}
				}
				req.Params[k] = v
			}
			if err := array.apply(&req, cmd.InOrStdin(), cmd.Flags().Changed("array")); err != nil {
				return err
			}
			switch {
			case showLogs && !wait && !isLocal:
				return usageError{errors.New("--logs streams the run's output while it runs: add --wait")}
			case array.results && !wait && !isLocal:
				return usageError{errors.New("--results prints each task's result once the array has ended: add --wait")}
			case download != "" && !wait && !isLocal:
				return usageError{errors.New("--download writes the run's output files once it has ended: add --wait (or later: docket results RUN_ID --download DIR)")}
			}
			// -f/--file is the definition file with --local, else a file sent with the run.
			if isLocal {
				if len(inputs.files) > 1 {
					return usageError{errors.New("with --local, -f FILE names the definition file; send other files with --dir")}
				}
				if len(inputs.files) == 1 {
					local.file, inputs.files = inputs.files[0], nil
				}
			} else if len(args) == 0 && len(inputs.files) > 0 {
				local.file = inputs.files[0]
			}
			if isLocal || local.file != "" {
				if !isLocal {
					return usageError{errors.New("-f FILE runs a definition file on this machine and needs --local; to run on a server, docket apply -f FILE, then docket run NAME")}
				}
				if local.file == "" {
					return usageError{errors.New("--local needs -f FILE: it runs a definition file without a server")}
				}
				if local.executor != "container" && local.executor != "process" {
					return usageError{fmt.Errorf("--executor %q: use container or process", local.executor)}
				}
				if len(args) == 1 {
					local.name = args[0]
				}
				local.req, local.inputs, local.download = req, inputs, download
				return local.run(cmd.Context(), e)
			}
			if len(args) == 0 {
				return usageError{errors.New("name the job to run: docket run NAME (or docket run -f FILE --local)")}
			}
			for _, name := range []string{"executor", "container-network"} {
				if cmd.Flags().Changed(name) {
					return usageError{fmt.Errorf("--%s is for --local runs; a server runs jobs as its own --%s says", name, name)}
				}
			}
			ctx := cmd.Context()
			c := e.client()
			for _, f := range inputs.files {
				// -f is also the definition file of --local: say which this one is.
				if ext := filepath.Ext(f); ext == ".yaml" || ext == ".yml" {
					fmt.Fprintf(e.stderr, "note: %s goes to the run as an input file; to run the job it defines on this machine: docket run -f %s --local\n", f, f)
				}
			}
			shared, tasks, err := inputs.collect()
			if err != nil {
				return err
			}
			if len(tasks) > 0 && (req.Tasks > 0 || len(req.Inputs) > 0) {
				return usageError{errors.New("--each-file makes one task per file; give it without --array or --each-line")}
			}
			req.Files, req.TaskFiles = filesOf(shared), filesOf(tasks)
			if dry {
				return asFlags(previewRun(ctx, e, c, args[0], req))
			}
			if err := sendFiles(ctx, e, c, append(shared, tasks...)); err != nil {
				return err
			}
			run, created, err := c.SubmitRun(ctx, args[0], req, idempotencyKey)
			if err != nil {
				return asFlags(err)
			}
			if !wait {
				if e.structured() {
					return e.print(run)
				}
				note := ""
				if !created {
					note = " (already submitted with this idempotency key)"
				}
				fmt.Fprintf(e.stdout, "run %s of %s %s%s\n", run.ID, run.Job, run.State, note)
				if _, more, ok := strings.Cut(run.Message, "; "); ok && run.State == job.StateQueued {
					fmt.Fprintln(e.stderr, more) // what it waits for (a suspended job)
				}
				return nil
			}
			fmt.Fprintf(e.stderr, "run %s of %s submitted\n", run.ID, run.Job)
			var final job.Run
			switch {
			case run.Kind == job.KindArray:
				final, err = waitArray(ctx, e, c, run)
				if err == nil && showLogs {
					fmt.Fprintf(e.stderr, "--logs: an array's output is its tasks': docket logs %s --task N\n", run.ID)
				}
			case run.Group != nil:
				// A workflow's steps run side by side: their output comes at the end, each
				// step's under a line naming it, as docket logs prints it.
				if final, err = waitGroup(ctx, e, c, run); err == nil && showLogs {
					err = stepLogs(ctx, e, c, run.ID)
				}
			default:
				final, err = waitRun(ctx, e, c, run, showLogs)
			}
			if err != nil {
				return err
			}
			if download != "" {
				if err := saveOutputs(ctx, e, c, final, download); err != nil {
					return err
				}
			}
			if array.results && run.Kind == job.KindArray {
				if err := printResults(ctx, e, c, run.ID, false, ""); err != nil {
					return err
				}
				// stdout holds the results; how the array ended, and why, goes beside the
				// progress.
				fmt.Fprintln(e.stderr, summary(final))
				return runExit(final)
			}
			return e.ended(final, e.stdout)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&envs, "env", nil, "set an environment variable for this run, KEY=VALUE (repeatable)")
	f.StringVar(&idempotencyKey, "idempotency-key", "", "submit at most once per key: a repeat returns the first run")
	f.StringArrayVar(&params, "param", nil, "set one of the job's params for this run, NAME=VALUE (repeatable)")
	f.StringVar(&queue, "queue", "", "admit the run through this queue instead of its job's")
	f.IntVar(&priority, "priority", 0, "the run's priority in its queue, 0-1000 (higher starts first)")
	f.BoolVar(&dry, "dry-run", false, "show what the run would be (command, env, queue, the files it would send; on Kubernetes the Job; -o yaml prints the Job alone) without running it or sending files")
	f.BoolVar(&wait, "wait", false, "wait for the run to finish, showing its progress")
	f.BoolVar(&showLogs, "logs", false, "with --wait, stream the run's output to stdout (a workflow's: each step's, at the end)")
	f.StringVar(&download, "download", "", "with --wait or --local, write the run's output files (docket report --file) under DIR once it ends: an array's task's in DIR/INDEX, a workflow's step's in DIR/STEP")
	f.BoolVar(&isLocal, "local", false, "run the job from -f FILE on this machine, without a server")
	f.StringVar(&local.executor, "executor", "container", "with --local: container (Docker or Podman: DOCKER_HOST, else their usual sockets) or process")
	array.add(f)
	inputs.add(f)
	f.StringVar(&local.network, "container-network", "", "with --local --executor container: none, host, bridge or a network name")
	return cmd
}

// waitRun follows a run (and its retries) to the end, printing each event to stderr and,
// with logs, its output to stdout.
func waitRun(ctx context.Context, e *env, c *client.Client, run job.Run, logs bool) (job.Run, error) {
	for {
		var offset int64
		seen := 0
		for {
			// The run first, then its events and log: when the run read is terminal, the
			// events and the log read after it are complete.
			cur, err := c.Run(ctx, run.ID)
			if err != nil {
				return run, err
			}
			run = cur
			events, err := c.Events(ctx, run.ID)
			if err != nil {
				return run, err
			}
			for _, ev := range events[min(seen, len(events)):] {
				fmt.Fprintf(e.stderr, "  %s  %-10s %s: %s\n", ev.Time.Local().Format("15:04:05"), ev.State, ev.Reason, ev.Message)
			}
			seen = len(events)
			if logs {
				if offset, err = c.Logs(ctx, run.ID, offset, false, e.stdout); err != nil {
					return run, err
				}
			}
			if run.State.Terminal() {
				break
			}
			select {
			case <-ctx.Done():
				return run, fmt.Errorf("stopped waiting; run %s is %s and goes on (docket cancel %s stops it)", run.ID, run.State, run.ID)
			case <-time.After(pollEvery):
			}
		}
		if run.State != job.StateFailed {
			return run, nil
		}
		next, err := retryOf(ctx, c, run)
		if err != nil || next == nil {
			return run, err
		}
		fmt.Fprintf(e.stderr, "%s; retrying as run %s (attempt %d)\n", summary(run), next.ID, next.Attempt)
		run = *next
	}
}

// retryOf finds the run that retries r, if the recorder queued one.
func retryOf(ctx context.Context, c *client.Client, r job.Run) (*job.Run, error) {
	runs, _, err := c.Runs(ctx, client.RunFilter{Job: r.Job, Limit: 100})
	if err != nil {
		return nil, err
	}
	for _, x := range runs {
		if x.RetryOf == r.ID {
			return &x, nil
		}
	}
	return nil, nil
}

// summary says in one line how a run ended.
func summary(r job.Run) string {
	s := fmt.Sprintf("run %s %s", r.ID, r.State)
	if r.StartedAt != nil && r.FinishedAt != nil {
		s += " after " + r.FinishedAt.Sub(*r.StartedAt).Round(time.Millisecond).String()
	}
	if r.State != job.StateSucceeded && r.Message != "" {
		s += ": " + r.Message
	}
	return s
}

// ended prints a waited-for run as it ended (the whole run with -o json or yaml, else its
// summary to w) and returns runExit's answer.
func (e *env) ended(final job.Run, w io.Writer) error {
	if e.structured() {
		if err := e.print(final); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(w, summary(final))
	}
	return runExit(final)
}

// runExit is the exit code of docket run --wait: 0 when the run succeeded, the job's exit
// code when it failed with one, 1 otherwise.
func runExit(r job.Run) error {
	if r.State == job.StateSucceeded {
		return nil
	}
	code := 1
	if r.ExitCode != nil && *r.ExitCode > 0 && *r.ExitCode < 256 {
		code = *r.ExitCode
	}
	return &ExitError{Code: code, Err: errors.New("")}
}

func runsCmd(e *env) *cobra.Command {
	var (
		f      client.RunFilter
		states string
		watch  bool
		every  bool
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List runs, newest first",
		Long: `List runs, newest first. -o wide adds how long each ran, its exit code and the
Kubernetes node its pod ran on (read from each run's events, about 25 runs a second).

--watch (-w) keeps the list current until Ctrl-C: on a terminal the table is redrawn in
place every second; otherwise (piped, or with -o json or yaml) the list is printed once and
then each run again whenever it appears or changes state.

A workflow (or array) run is one line with its progress ("3/6 steps succeeded, 2 to go; 1
running"); --all lists each step's run as well, and --parent ID the steps of one.`,
		Example: `  docket runs
  docket runs --job nightly-train --state failed,cancelled
  docket runs -o wide
  docket runs --job nightly-train -w
  docket runs --limit 200 -o yaml
  docket runs --parent 019ab2c4-...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if states != "" {
				f.States = strings.Split(states, ",")
			}
			f.TopLevel = !every && f.Parent == ""
			if watch {
				if f.Cursor != "" {
					return usageError{errors.New("--watch shows the newest runs; it takes no --cursor")}
				}
				return watchRuns(cmd.Context(), e, f)
			}
			ctx := cmd.Context()
			c := e.client()
			runs, next, err := c.Runs(ctx, f)
			if err != nil {
				return err
			}
			if e.structured() {
				out := map[string]any{"runs": runs}
				if next != "" {
					out["next_cursor"] = next
				}
				return e.print(out)
			}
			if len(runs) == 0 {
				// Nothing under a run, or of a job, that is not there is a mistake, not an
				// empty list. (A deleted job's runs are still listed.)
				if f.Parent != "" {
					if _, err := c.Run(ctx, f.Parent); err != nil {
						return err
					}
				}
				if f.Job != "" && f.Cursor == "" {
					var ae *client.Error
					if _, err := c.Job(ctx, f.Job); errors.As(err, &ae) && ae.Status == http.StatusNotFound {
						return fmt.Errorf("no job %q has runs, and there is no such job (docket jobs lists them)", f.Job)
					}
				}
				fmt.Fprintln(e.stdout, "no runs")
				return nil
			}
			t := newRunTable(e, c)
			if err := t.lookupNodes(ctx, runs); err != nil {
				return err
			}
			if err := t.lookupGroups(ctx, runs); err != nil {
				return err
			}
			tw := e.table()
			fmt.Fprint(tw, t.header())
			for _, r := range runs {
				fmt.Fprint(tw, t.row(r))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(e.stderr, "more: --cursor %s\n", next)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Job, "job", "", "only runs of this job")
	fl.StringVar(&states, "state", "", "only runs in these states, comma-separated (queued, running, failed, ...)")
	fl.IntVar(&f.Limit, "limit", 0, "page size (default 50, at most 1000)")
	fl.StringVar(&f.Cursor, "cursor", "", "continue from a previous page")
	fl.BoolVarP(&watch, "watch", "w", false, "keep the list current until Ctrl-C (redrawn in place on a terminal)")
	fl.BoolVar(&every, "all", false, "list the runs of workflows' steps and arrays' tasks too")
	fl.StringVar(&f.Parent, "parent", "", "only the step (or task) runs of this workflow (or array) run")
	return cmd
}

func describeCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "describe (run ID | job NAME)",
		Short: "Show a run with its events, or a job with its next runs",
		Long: `Show a run with its events, or a job with its next runs. Given one argument, a run id
(a UUID) describes that run, and anything else the job of that name.`,
		Example: "  docket describe run 019ab2c4-...\n  docket describe job nightly-train -o yaml\n  docket describe nightly-train",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if runIDShape.MatchString(args[0]) {
					return describeRun(e, cmd.Context(), args[0])
				}
				if isQueueWord(args[0]) || args[0] == "run" || args[0] == "job" {
					return usageError{fmt.Errorf("use: docket describe run ID, or docket describe job NAME")}
				}
				return describeJob(e, cmd, args[0])
			}
			switch args[0] {
			case "run":
				return describeRun(e, cmd.Context(), args[1])
			case "job":
				return describeJob(e, cmd, args[1])
			}
			if isQueueWord(args[0]) {
				return usageError{fmt.Errorf("queues are listed with their limits, and what runs and waits in each, by docket queues")}
			}
			return usageError{fmt.Errorf("cannot describe a %q; use run ID or job NAME", args[0])}
		},
	}
}

func describeRun(e *env, ctx context.Context, id string) error {
	c := e.client()
	r, err := c.Run(ctx, id)
	if err != nil {
		return err
	}
	events, err := c.Events(ctx, id)
	if err != nil {
		return err
	}
	rep, err := c.RunReport(ctx, id)
	if err != nil {
		return err
	}
	var children []job.Run
	if r.Group != nil {
		if children, err = c.Children(ctx, id); err != nil {
			return err
		}
	}
	inputs, outputs, err := c.RunFiles(ctx, id)
	if err != nil {
		return err
	}
	if e.structured() {
		out := map[string]any{"run": r, "events": events, "report": rep}
		if r.Group != nil {
			out["children"] = children
		}
		if len(inputs)+len(outputs) > 0 {
			out["inputs"], out["outputs"] = inputs, outputs
		}
		return e.print(out)
	}
	tw := e.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Run", r.ID)
	row("Job", fmt.Sprintf("%s (revision %d)", r.Job, r.Revision))
	row("State", string(r.State))
	row("Trigger", string(r.Trigger))
	row("Attempt", fmt.Sprint(r.Attempt))
	if r.RetryOf != "" {
		row("Retry of", r.RetryOf)
	}
	if r.Parent != "" {
		row("Part of", fmt.Sprintf("%s run %s (%s)", map[bool]string{true: "array", false: "workflow"}[r.TaskIndex != nil], r.Parent, childName(r)))
	}
	if r.ResumedFrom != "" {
		row("Resumes", r.ResumedFrom)
	}
	if r.ReusedFrom != "" {
		row("Reuses", r.ReusedFrom+" (carried over; its output is that run's)")
	}
	if r.ScheduledTime != nil {
		row("Scheduled", r.ScheduledTime.Format(time.RFC3339))
	}
	row("Created", r.CreatedAt.Format(time.RFC3339))
	if r.StartedAt != nil {
		row("Started", r.StartedAt.Format(time.RFC3339))
	}
	if r.FinishedAt != nil {
		row("Finished", r.FinishedAt.Format(time.RFC3339))
	}
	if r.ExitCode != nil {
		row("Exit code", fmt.Sprint(*r.ExitCode))
	}
	if r.Reason != "" {
		row("Reason", string(r.Reason)+": "+r.Message)
	}
	queue := r.Queue
	if queue == "" {
		queue = "default"
	}
	row("Queue", fmt.Sprintf("%s (the run's priority in it: %d)", queue, r.Priority))
	for _, k := range slices.Sorted(maps.Keys(r.Params)) {
		row("Param", k+"="+r.Params[k])
	}
	if r.WaitingFor != "" {
		row("Waiting for", r.WaitingFor)
	}
	if len(inputs) > 0 {
		row("Inputs", filesText(inputs, ""))
	}
	if len(outputs) > 0 {
		row("Outputs", filesText(outputs, fmt.Sprintf(" (docket results %s --download DIR)", r.ID)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	e.printReport(rep.Metrics, rep.Result)
	if r.Group != nil {
		describeGroup(e.stdout, r, children)
	}
	fmt.Fprintln(e.stdout, "\nEvents:")
	tw = e.table()
	for _, ev := range events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ev.Time.Format(time.RFC3339), ev.State, ev.Reason, ev.Message)
	}
	return tw.Flush()
}

func logsCmd(e *env) *cobra.Command {
	var (
		follow bool
		step   string
		task   int
	)
	cmd := &cobra.Command{
		Use:   "logs RUN_ID",
		Short: "Print a run's output (stdout and stderr)",
		Long: `Print a run's output (stdout and stderr).

A workflow run's output is its steps': without --step, each step that ran is printed under a
line naming it (with -o json, one object per step); with -f, each line as it comes after its
step's name ("train | ..."). An array run's output is its tasks': name one with --task
(docket results RUN_ID gives every task's result).`,
		Example: "  docket logs 019ab2c4-...\n  docket logs 019ab2c4-... -f\n  docket logs WORKFLOW_RUN_ID --step train\n  docket logs ARRAY_RUN_ID --task 7",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, id := cmd.Context(), e.client(), args[0]
			if step != "" && cmd.Flags().Changed("task") {
				return usageError{errors.New("--step and --task: give one (--step for a workflow's step, --task for an array's task)")}
			}
			if cmd.Flags().Changed("task") && task < 0 {
				return usageError{fmt.Errorf("--task: %d is no task index; tasks count from 0", task)}
			}
			r, err := c.Run(ctx, id)
			if err != nil {
				return err
			}
			switch {
			case step != "":
				r, err = childOf(ctx, c, r, job.KindWorkflow, step, "--step")
			case cmd.Flags().Changed("task"):
				r, err = childOf(ctx, c, r, job.KindArray, strconv.Itoa(task), "--task")
			case r.Kind == job.KindArray && r.Group != nil:
				return usageError{fmt.Errorf("run %s is an array run of %d tasks, whose output is its tasks': name one with --task (0 to %d), or see docket results %s",
					r.ID, r.Group.Size, r.Group.Size-1, r.ID)}
			case r.Kind == job.KindWorkflow && e.structured() && follow:
				return usageError{fmt.Errorf("run %s is a workflow run: -f prints its steps' lines as they come, as text; without -f, -o %s gives each step's output", r.ID, e.output)}
			case r.Kind == job.KindWorkflow && follow:
				return followSteps(ctx, e, c, r.ID)
			case r.Kind == job.KindWorkflow:
				return stepLogs(ctx, e, c, r.ID)
			}
			if err != nil {
				return err
			}
			var w io.Writer = e.stdout
			if e.structured() {
				var b strings.Builder
				w = &b
				if _, err := c.Logs(ctx, r.ID, 0, follow, w); err != nil {
					return err
				}
				return e.print(map[string]string{"run_id": r.ID, "log": b.String()})
			}
			_, err = c.Logs(ctx, r.ID, 0, follow, w)
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the run finishes")
	cmd.Flags().StringVar(&step, "step", "", "print the output of this step of the workflow run (its newest attempt)")
	cmd.Flags().IntVar(&task, "task", 0, "print the output of this task of the array run, by index (its newest attempt)")
	return cmd
}

func cancelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel RUN_ID",
		Short:   "Cancel a queued or running run",
		Example: "  docket cancel 019ab2c4-...",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := e.client().Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if e.structured() {
				return e.print(r)
			}
			if r.State == job.StateCancelled {
				fmt.Fprintf(e.stdout, "run %s cancelled\n", r.ID)
			} else {
				fmt.Fprintf(e.stdout, "run %s is stopping (was %s)\n", r.ID, r.State)
			}
			return nil
		},
	}
}

// submitFlags are the flags of docket run that set a submission's fields, by field.
var submitFlags = map[string]string{
	"env": "--env", "params": "--param", "priority": "--priority", "queue": "--queue", "tasks": "--array",
	"inputs": "--each-line", "files": "--file", "task_files": "--each-file", "parallelism": "--parallelism",
	"max_failed": "--max-failed", "Idempotency-Key": "--idempotency-key",
}

// reportFlags are the flags of docket report that set a report's fields, by field.
var reportFlags = map[string]string{"metrics": "--metric", "result": "--result", "checkpoint": "--checkpoint"}

// asFlags names, in an API error about a submission's field, the flag that set it: env.1A
// is --env 1A, inputs[3] the fourth line of --each-line. Other errors are as they were.
func asFlags(err error) error { return namedFlags(err, submitFlags) }

// namedFlags names, in an API error about a field of a request, the flag of flags (by
// field) that set it.
func namedFlags(err error, flags map[string]string) error {
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Field == "" {
		return err
	}
	top, rest := ae.Field, ""
	if i := strings.IndexAny(top, ".["); i >= 0 {
		top, rest = top[:i], top[i:]
	}
	flag, ok := flags[top]
	if !ok {
		return err
	}
	where := flag
	switch {
	case strings.HasPrefix(rest, "."):
		where += " " + strings.TrimPrefix(rest, ".")
	case strings.HasPrefix(rest, "["):
		if n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(strings.SplitN(rest, "]", 2)[0], "["), "]")); err == nil {
			where += fmt.Sprintf(" (its %s)", ordinal(n+1))
		}
	}
	msg := strings.TrimPrefix(ae.Message, ae.Field+": ")
	return fmt.Errorf("%s: %s", where, msg)
}

// ordinal is 1st, 2nd, 3rd, 4th...
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}
