package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

func retryCmd(e *env) *cobra.Command {
	var (
		from                        string
		wait, failed, results, logs bool
	)
	cmd := &cobra.Command{
		Use:   "retry RUN_ID",
		Short: "Resume an ended workflow or array run: run again what did not succeed",
		Long: `Resume an ended workflow (or array) run as a new run linked to it (resumed_from): steps
that succeeded are carried over with their results (state succeeded, reason Reused, a link
to the step run they reuse); the others, and every step that needs one of them, run again.
--from STEP runs that step and everything downstream of it again, even if it succeeded.
The old run and its history stay as they were. A run still running is refused: cancel it,
or wait for it to end. The new run runs the revision of the job the old one ran, whose
steps' results it carries over; after docket apply changed the job, docket run NAME runs
the new revision (retry says so when the job has changed).

On an array, the tasks that did not succeed (failed, cancelled or skipped) run again, each
with its index, input and input files; the tasks that succeeded are carried over with
their results and output files. --failed says so: it refuses a run that is no array and
lists the indexes that run again.`,
		Example: `  docket retry 019ab2c4-...
  docket retry 019ab2c4-... --from train
  docket retry 019ab2c4-... --wait --logs
  docket retry 019ab2c4-... --failed --wait --results > results.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			switch {
			case failed && from != "":
				return usageError{errors.New("--failed runs an array's failed tasks again, --from a workflow's step and what follows: give one of them")}
			case results && !wait:
				return usageError{errors.New("--results prints each task's result once the run has ended: add --wait")}
			case logs && !wait:
				return usageError{errors.New("--logs prints each step's output once the run has ended: add --wait")}
			}
			c := e.client()
			if results && !failed {
				old, err := c.Run(ctx, args[0])
				if err != nil {
					return err
				}
				if old.Kind != job.KindArray {
					return usageError{fmt.Errorf("--results prints an array's task results, and run %s is a %s run: leave it out", args[0], old.Kind)}
				}
			}
			var again []int
			if failed {
				var err error
				if again, err = failedTasks(ctx, c, args[0]); err != nil {
					return err
				}
				if len(again) == 0 {
					return fmt.Errorf("every task of array run %s succeeded: there is nothing to run again", args[0])
				}
			}
			run, err := c.Retry(ctx, args[0], from)
			if err != nil {
				return err
			}
			if failed {
				fmt.Fprintf(e.stderr, "%s run again in run %s, each with its index\n", indexList(again), run.ID)
			}
			if j, err := c.Job(ctx, run.Job); err == nil && j.Revision != run.Revision && !e.structured() {
				fmt.Fprintf(e.stderr, "run %s runs revision %d of job %s, as run %s did; the job is at revision %d now (docket run %s runs that)\n",
					run.ID, run.Revision, run.Job, args[0], j.Revision, run.Job)
			}
			if !wait {
				if e.structured() {
					return e.print(run)
				}
				fmt.Fprintf(e.stdout, "run %s of %s resumes run %s: %s\n", run.ID, run.Job, args[0], strings.TrimPrefix(run.Message, "resumes "+string(run.Kind)+" run "+args[0]+": "))
				return nil
			}
			fmt.Fprintf(e.stderr, "run %s of %s resumes run %s\n", run.ID, run.Job, args[0])
			var final job.Run
			switch {
			case run.Kind == job.KindArray:
				if final, err = waitArray(ctx, e, c, run); err == nil && logs {
					fmt.Fprintf(e.stderr, "--logs: an array's output is its tasks': docket logs %s --task N\n", run.ID)
				}
			default:
				// As docket run --wait --logs: each step's output at the end.
				if final, err = waitGroup(ctx, e, c, run); err == nil && logs {
					err = stepLogs(ctx, e, c, run.ID)
				}
			}
			if err != nil {
				return err
			}
			if results && run.Kind == job.KindArray {
				if err := printResults(ctx, e, c, run.ID, false, ""); err != nil {
					return err
				}
				fmt.Fprintln(e.stderr, summary(final))
				return runExit(final)
			}
			return e.ended(final, e.stdout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "run this step and all that follows it again, even if it succeeded")
	f.BoolVar(&failed, "failed", false, "run again only an array's tasks that did not succeed, with the same indexes (refused for a run that is no array)")
	f.BoolVar(&wait, "wait", false, "wait for the new run to finish, showing each step's progress (an array's in one line)")
	f.BoolVar(&results, "results", false, "with --wait on an array: print each task's result as a JSON line, in index order")
	f.BoolVar(&logs, "logs", false, "with --wait on a workflow: print each step's output at the end, as docket logs does")
	return cmd
}

// failedTasks returns the indexes of the tasks of an ended array run that did not
// succeed: what docket retry --failed runs again.
func failedTasks(ctx context.Context, c *client.Client, id string) ([]int, error) {
	run, err := c.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	switch run.Kind {
	case job.KindArray:
	case job.KindWorkflow:
		return nil, fmt.Errorf("run %s is a workflow; --failed runs an array's failed tasks again: leave it out to resume the workflow from its failed steps", id)
	default:
		return nil, fmt.Errorf("run %s is no array; --failed runs an array's failed tasks again, and a run of job %s starts with docket run %s", id, run.Job, run.Job)
	}
	var out []int
	for after := -1; ; {
		page, err := c.Results(ctx, id, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, t := range page.Results {
			if t.State != job.StateSucceeded {
				out = append(out, t.Index)
			}
		}
		if page.NextAfter == nil || len(page.Results) == 0 {
			return out, nil
		}
		after = *page.NextAfter
	}
}

// indexList names tasks by index, the first 20 of them: "tasks 3, 17 and 40".
func indexList(idx []int) string {
	const shown = 20
	parts := make([]string, 0, min(len(idx), shown))
	for _, i := range idx[:min(len(idx), shown)] {
		parts = append(parts, strconv.Itoa(i))
	}
	switch {
	case len(idx) == 0:
		return "no task"
	case len(idx) == 1:
		return "task " + parts[0]
	case len(idx) > shown:
		return fmt.Sprintf("tasks %s and %d more", strings.Join(parts, ", "), len(idx)-shown)
	}
	return "tasks " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// waitGroup follows a workflow or array run to its end, printing each child's changes of
// state to stderr as they are seen.
func waitGroup(ctx context.Context, e *env, c *client.Client, run job.Run) (job.Run, error) {
	seen := map[string]job.State{}
	for {
		cur, err := c.Run(ctx, run.ID)
		if err != nil {
			return run, err
		}
		run = cur
		children, err := c.Children(ctx, run.ID)
		if err != nil {
			return run, err
		}
		for _, ch := range children {
			if seen[ch.ID] == ch.State {
				continue
			}
			seen[ch.ID] = ch.State
			what := childName(ch)
			if ch.Attempt > 1 {
				what += fmt.Sprintf(" (attempt %d)", ch.Attempt)
			}
			fmt.Fprintf(e.stderr, "  %s  %-22s %-10s %s: %s\n", time.Now().Format("15:04:05"), what, ch.State, ch.Reason, ch.Message)
		}
		if run.State.Terminal() {
			return run, nil
		}
		select {
		case <-ctx.Done():
			return run, fmt.Errorf("stopped waiting; run %s is %s and goes on (docket cancel %s stops it)", run.ID, run.State, run.ID)
		case <-time.After(pollEvery):
		}
	}
}

// childName is how the CLI names a group's child: "step train", "task 7".
func childName(r job.Run) string {
	if r.TaskIndex != nil {
		return "task " + r.Key()
	}
	return "step " + r.Step
}

// groupSummary is a group run's progress in words, with its children running when
// known: "3/6 steps succeeded, 1 failed, 2 to go; 1 running".
func groupSummary(r job.Run, children []job.Run) string {
	if r.Group == nil {
		return ""
	}
	s := group.Summary(r.Kind, *r.Group)
	running := 0
	for _, ch := range group.Latest(children) {
		if ch.State.Active() {
			running++
		}
	}
	if running > 0 {
		s += fmt.Sprintf("; %d running", running)
	}
	return s
}

// describeGroup prints a group run's children as a tree in the order they run: each
// step under the steps it needs (a step needed by several is shown under the first, and
// named under the others), with its state, reason and run id.
func describeGroup(w io.Writer, r job.Run, children []job.Run) {
	latest := group.Latest(children)
	attempts := map[string]int{}
	for _, ch := range children {
		attempts[ch.Key()]++
	}
	fmt.Fprintf(w, "\n%s (%s):\n", map[job.Kind]string{job.KindWorkflow: "Steps", job.KindArray: "Tasks"}[r.Kind], groupSummary(r, children))
	// The children's states and reasons line up in columns, whatever the keys' widths.
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	w = tw
	order := slices.Clone(children)
	slices.SortStableFunc(order, func(a, b job.Run) int { return strings.Compare(a.ID, b.ID) })
	var keys []string
	for _, ch := range order {
		if !slices.Contains(keys, ch.Key()) {
			keys = append(keys, ch.Key())
		}
	}
	line := func(prefix, k string) {
		ch := latest[k]
		more := ""
		if n := attempts[k]; n > 1 {
			more = fmt.Sprintf(", attempt %d", n)
		}
		if ch.ReusedFrom != "" {
			more += ", reuses " + ch.ReusedFrom
		}
		fmt.Fprintf(w, "%s%s\t%s\t%s: %s  (run %s%s)\n", prefix, k, ch.State, ch.Reason, ch.Message, ch.ID, more)
	}
	if r.Kind != job.KindWorkflow {
		for _, k := range keys {
			line("  ", k)
		}
		return
	}
	shown := map[string]bool{}
	var walk func(k, indent string)
	walk = func(k, indent string) {
		shown[k] = true
		line(indent+"- ", k)
		for _, next := range keys {
			if !slices.Contains(latest[next].Needs, k) {
				continue
			}
			if shown[next] {
				fmt.Fprintf(w, "%s  - %s\t(shown above)\n", indent, next) // a cell, so the columns go on past it
				continue
			}
			// A step shows under the last of its needs, once all of them are shown.
			ready := true
			for _, n := range latest[next].Needs {
				ready = ready && shown[n]
			}
			if ready {
				walk(next, indent+"  ")
			}
		}
	}
	for _, k := range keys {
		if len(latest[k].Needs) == 0 {
			walk(k, "  ")
		}
	}
}

// childOf finds the run of a workflow's step or an array's task (its newest attempt) by
// its key (the step's name, the task's index), from r: the group run or one of its
// children. flag names the option that gave the key, for errors.
func childOf(ctx context.Context, c *client.Client, r job.Run, kind job.Kind, key, flag string) (job.Run, error) {
	parent := r.ID
	if r.Kind != kind {
		if r.Parent == "" {
			return r, usageError{fmt.Errorf("%s: run %s is no %s run", flag, r.ID, kind)}
		}
		parent = r.Parent // a child's run names its group too
	}
	children, err := c.Children(ctx, parent)
	if err != nil {
		return r, err
	}
	if len(children) > 0 && (children[0].TaskIndex != nil) != (kind == job.KindArray) {
		return r, usageError{fmt.Errorf("%s: run %s is no %s run", flag, parent, kind)} // r is a child of the other kind of group
	}
	latest := group.Latest(children)
	ch, ok := latest[key]
	if !ok {
		if kind == job.KindArray {
			return r, usageError{fmt.Errorf("%s: array run %s has no task %s; its tasks are 0 to %d", flag, parent, key, len(latest)-1)}
		}
		names := slices.Sorted(maps.Keys(latest))
		return r, usageError{fmt.Errorf("%s: workflow run %s has no step %q; its steps are %s", flag, parent, key, strings.Join(names, ", "))}
	}
	if ch.ReusedFrom != "" {
		return c.Run(ctx, ch.ReusedFrom) // carried over: its output is the original's
	}
	return ch, nil
}

// followSteps prints a workflow's steps' output as it comes, each line after its step's
// name ("train | ..."; a retried step's attempts one after the other), until the workflow
// has ended and every step's output is read. Only the steps still running, or not read to
// their end, are read again at each poll.
func followSteps(ctx context.Context, e *env, c *client.Client, id string) error {
	type stepLog struct {
		offset  int64
		partial []byte
		done    bool
	}
	logs := map[string]*stepLog{}
	for {
		// The workflow first: once it has ended, the steps and logs read after it are whole.
		wf, err := c.Run(ctx, id)
		if err != nil {
			return err
		}
		children, err := c.Children(ctx, id)
		if err != nil {
			return err
		}
		width := 0
		for _, ch := range children {
			width = max(width, len(ch.Step))
		}
		for _, ch := range children {
			l := logs[ch.ID]
			if l == nil {
				l = &stepLog{}
				logs[ch.ID] = l
			}
			if l.done || !ranHere(ch) {
				continue
			}
			var b bytes.Buffer
			if l.offset, err = c.Logs(ctx, ch.ID, l.offset, false, &b); err != nil {
				return err
			}
			data := append(l.partial, b.Bytes()...)
			cut := bytes.LastIndexByte(data, '\n') + 1
			if ch.State.Terminal() {
				cut, l.done = len(data), true // its log was whole when this read began
			}
			for line := range strings.Lines(string(data[:cut])) {
				fmt.Fprintf(e.stdout, "%-*s | %s", width, ch.Step, strings.TrimSuffix(line, "\n")+"\n")
			}
			l.partial = append([]byte(nil), data[cut:]...)
		}
		if wf.State.Terminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second): // each poll lists every step
		}
	}
}

// ranHere reports whether a workflow's step run ran, and so has output: it started, and
// was not carried over from the run it resumes.
func ranHere(ch job.Run) bool { return ch.StartedAt != nil && ch.ReusedFrom == "" }

// maxStructuredLogs bounds the steps' output that docket logs WF -o json holds to encode.
const maxStructuredLogs = 64 << 20

// stepLogs prints the output of each step of a workflow run that ran, in the order the
// steps were made, each under a line naming it; with -o json or yaml, one object per step.
func stepLogs(ctx context.Context, e *env, c *client.Client, id string) error {
	children, err := c.Children(ctx, id)
	if err != nil {
		return err
	}
	if e.structured() {
		type stepLog struct {
			Step    string    `json:"step"`
			RunID   string    `json:"run_id"`
			Attempt int       `json:"attempt"`
			State   job.State `json:"state"`
			Log     string    `json:"log"`
		}
		steps, size := []stepLog{}, 0
		for _, ch := range children {
			if !ranHere(ch) {
				continue
			}
			var b strings.Builder
			if _, err := c.Logs(ctx, ch.ID, 0, false, &b); err != nil {
				return err
			}
			// The answer is held whole to be encoded: past a bound, text (which streams)
			// or one step at a time.
			if size += b.Len(); size > maxStructuredLogs {
				return fmt.Errorf("the steps' output passes %d MiB, too much for -o %s: print it as text, or one step at a time with --step", maxStructuredLogs>>20, e.output)
			}
			steps = append(steps, stepLog{Step: ch.Step, RunID: ch.ID, Attempt: ch.Attempt, State: ch.State, Log: b.String()})
		}
		return e.print(map[string]any{"run_id": id, "steps": steps})
	}
	for _, ch := range children {
		if !ranHere(ch) {
			continue
		}
		what := childName(ch)
		if ch.Attempt > 1 {
			what += fmt.Sprintf(", attempt %d", ch.Attempt)
		}
		fmt.Fprintf(e.stdout, "==> %s (%s) <==\n", what, ch.State)
		if _, err := c.Logs(ctx, ch.ID, 0, false, e.stdout); err != nil {
			return err
		}
	}
	return nil
}
