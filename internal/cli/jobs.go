package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

func applyCmd(e *env) *cobra.Command {
	var (
		files []string
		dry   bool
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run]",
		Short: "Create or update jobs from a YAML or JSON file",
		Long: `Create or update the jobs defined in FILE (one job per YAML document; "-" reads
stdin). An unchanged definition is left as it is; a changed one becomes a new revision.
A document with kind: Queue sets a queue; the file's queues are set before its jobs, and
a job after the jobs of the file it runs after (after:). A name is defined once in a
file. The server checks every document first: when one is refused, none is applied.

With --dry-run the server checks every document as apply would (images, capacity,
templates, queues) and says what would change, storing nothing: per job created,
unchanged or changed with the fields that change, and its next 3 runs.`,
		Example: `  docket apply -f examples/hello.yaml
  docket apply -f jobs.yaml --dry-run
  cat jobs.yaml | docket apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case len(files) == 0:
				return usageError{errors.New("-f FILE is required")}
			case len(files) > 1:
				// Each would be applied alone, the last one only, as a flag given twice.
				return usageError{fmt.Errorf("-f takes one file, given %d: apply them in turn, or as one (documents between --- lines)", len(files))}
			}
			file := files[0]
			data, err := readFile(e, file)
			if err != nil {
				return err
			}
			docs := definition.SplitDocuments(data)
			if len(docs) == 0 {
				return fmt.Errorf("%s holds no job definition", file)
			}
			if dry {
				return dryApply(cmd.Context(), e, file, docs)
			}
			// A file is applied whole or not at all when the server can tell beforehand:
			// each document is checked first (its fields, images, queues, the token's
			// team), so one refused leaves the others as they were.
			if len(docs) > 1 {
				if _, _, err := dryCheck(cmd.Context(), e.client(), file, docs); err != nil {
					return fmt.Errorf("%w (nothing in %s was applied)", err, file)
				}
			}
			var (
				applied []client.Job
				queues  []client.AppliedQueue
			)
			err = applyDocs(file, docs, func(d named) error {
				got, err := e.client().ApplyQueue(cmd.Context(), d.name, d.doc)
				if err != nil {
					return err
				}
				queues = append(queues, got)
				if !e.structured() {
					fmt.Fprintln(e.stdout, queueLine(got))
				}
				return nil
			}, func(d named) error {
				j, err := e.client().ApplyJob(cmd.Context(), d.name, d.doc)
				if err != nil {
					return err
				}
				applied = append(applied, j)
				for _, w := range j.Warnings {
					fmt.Fprintf(e.stderr, "warning: %s: %s\n", d.where, w)
				}
				if !e.structured() {
					fmt.Fprintln(e.stdout, applyLine(j))
				}
				return nil
			})
			if err != nil {
				return err
			}
			if e.structured() {
				out := map[string]any{"jobs": applied}
				if len(queues) > 0 {
					out["queues"] = queues
				}
				return e.print(out)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "file", "f", nil, "definition file, or - for stdin")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "check on the server and show what would change, storing nothing")
	return cmd
}

func applyLine(j client.Job) string {
	verb := "unchanged"
	switch {
	case j.Changed != nil && *j.Changed && j.Revision == 1:
		verb = "created"
	case j.Changed != nil && *j.Changed:
		verb = "updated"
	}
	line := fmt.Sprintf("job %s %s (revision %d)", j.Name, verb, j.Revision)
	switch {
	case len(j.NextRuns) > 0:
		line += ", next run " + j.NextRuns[0].Format(time.RFC3339)
	case len(j.After) > 0:
		line += ", runs after " + afterText(j.After)
	case j.Schedule == "":
		line += ", runs on demand"
	}
	return line
}

// afterText says when a job's triggers fire: "load succeeds and clean fails" (a job that
// runs after several waits for an end of each).
func afterText(after []job.After) string {
	words := map[job.TriggerOn]string{job.OnFailed: "fails", job.OnFinished: "ends"}
	parts := make([]string, len(after))
	for i, a := range after {
		verb, ok := words[a.On]
		if !ok {
			verb = "succeeds"
		}
		parts[i] = a.Job + " " + verb
	}
	return strings.Join(parts, " and ")
}

func readFile(e *env, name string) ([]byte, error) {
	if name == "-" {
		return io.ReadAll(e.stdin)
	}
	return os.ReadFile(name)
}

func jobsCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "jobs",
		Short: "List jobs with their schedules, next and last runs",
		Long: `List jobs with their schedules, next and last runs. -o wide adds the image and how
long the last run ran, its exit code and the Kubernetes node its pod ran on.`,
		Example: "  docket jobs\n  docket jobs -o wide\n  docket jobs -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := e.client()
			jobs, err := c.Jobs(cmd.Context())
			if err != nil {
				return err
			}
			if e.structured() {
				return e.print(map[string]any{"jobs": jobs})
			}
			if len(jobs) == 0 {
				fmt.Fprintln(e.stdout, "no jobs yet; create one with: docket apply -f FILE")
				return nil
			}
			return e.writeJobs(cmd.Context(), c, jobs)
		},
	}
}

// writeJobs writes jobs as a table; -o wide adds the image and the last run's duration,
// exit code and node.
func (e *env) writeJobs(ctx context.Context, c *client.Client, jobs []client.Job) error {
	runs := newRunTable(e, c)
	if e.wide() {
		var last []job.Run
		for _, j := range jobs {
			if j.LastRun != nil {
				last = append(last, *j.LastRun)
			}
		}
		if err := runs.lookupNodes(ctx, last); err != nil {
			return err
		}
	}
	tw := e.table()
	header := "NAME\tSCHEDULE\tTIMEZONE\tREVISION\tNEXT RUN\tLAST RUN"
	if e.wide() {
		header += "\tIMAGE\tLAST DURATION\tLAST EXIT\tLAST NODE"
	}
	fmt.Fprintln(tw, header)
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s", j.Name, scheduleText(j), j.Timezone, j.Revision, nextText(j), lastText(j.LastRun))
		if e.wide() {
			duration, exit, node := "-", "-", "-"
			if r := j.LastRun; r != nil {
				duration, exit, node = runDuration(*r, runs.now()), exitText(*r), orDash(runs.nodes[r.ID].name)
			}
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s", j.Image, duration, exit, node)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// scheduleText is a job's SCHEDULE column: its schedule, the jobs whose runs start it
// ("after load, clean"), or "on demand".
func scheduleText(j client.Job) string {
	text := j.Schedule
	if text == "" && len(j.After) == 0 {
		return "on demand"
	}
	if text == "" {
		upstream := make([]string, len(j.After))
		for i, a := range j.After {
			upstream[i] = a.Job
		}
		text = "after " + strings.Join(upstream, ", ")
	}
	if j.Suspended {
		text += " (suspended)"
	}
	return text
}

func nextText(j client.Job) string {
	if len(j.NextRuns) == 0 {
		return "-"
	}
	return j.NextRuns[0].Format(time.RFC3339)
}

func lastText(r *job.Run) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%s %s", r.State, r.CreatedAt.Local().Format("2006-01-02 15:04"))
}

func describeJob(e *env, cmd *cobra.Command, name string) error {
	j, err := e.client().Job(cmd.Context(), name)
	if err != nil {
		return err
	}
	if e.structured() {
		return e.print(j)
	}
	tw := e.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Name", j.Name)
	row("Revision", fmt.Sprint(j.Revision))
	row("Image", j.Image)
	if len(j.Command) > 0 {
		row("Command", strings.Join(quoteArgs(j.Command), " "))
	}
	row("Resources", fmt.Sprintf("cpu %s, memory %s", j.CPU, j.Memory))
	// A workflow's steps, each with what it needs and a command of its own.
	for _, st := range j.Steps {
		text := st.Name
		if len(st.Needs) > 0 {
			text += " (needs " + strings.Join(st.Needs, ", ") + ")"
		}
		if st.When == job.WhenAlways {
			text += " (always)"
		}
		if len(st.Command) > 0 {
			text += ": " + strings.Join(quoteArgs(st.Command), " ")
		}
		row("Step", text)
	}
	if len(j.Steps) == 0 && (j.Tasks > 0 || j.Parallelism > 0 || j.MaxFailed != nil) {
		row("Array", arrayText(j.Spec))
	}
	switch {
	case j.Schedule != "":
		row("Schedule", scheduleText(j)+" in "+j.Timezone)
	case len(j.After) == 0:
		row("Schedule", scheduleText(j))
	}
	if len(j.After) > 0 {
		text := afterText(j.After)
		if j.Schedule == "" && j.Suspended {
			text += " (suspended)"
		}
		row("Runs after", text)
	}
	row("Policies", fmt.Sprintf("concurrency %s, catchup %s, deadline %s, retries %d", j.Concurrency, j.Catchup, j.Deadline, j.Retries))
	for _, k := range slices.Sorted(maps.Keys(j.Env)) {
		row("Env", k+"="+j.Env[k])
	}
	if j.Queue != "" {
		row("Queue", j.Queue)
	}
	for _, k := range slices.Sorted(maps.Keys(j.Params)) {
		v := j.Params[k]
		if v == "" {
			v = "(required)"
		}
		row("Param", k+"="+v)
	}
	for _, t := range j.NextRuns {
		row("Next run", t.Format(time.RFC3339))
	}
	row("Last run", lastText(j.LastRun))
	return tw.Flush()
}

// arrayText says how a job's runs are arrays: its tasks (or those a run sets), the most
// running at once, and the failures tolerated.
func arrayText(spec job.Spec) string {
	parts := []string{"tasks set by each run"}
	if spec.Tasks > 0 {
		parts[0] = fmt.Sprintf("%d tasks", spec.Tasks)
	}
	if spec.Parallelism > 0 {
		parts = append(parts, fmt.Sprintf("at most %d running at once", spec.Parallelism))
	}
	if spec.MaxFailed != nil {
		parts = append(parts, fmt.Sprintf("at most %d failed before the rest are cancelled", *spec.MaxFailed))
	}
	return strings.Join(parts, ", ")
}

func deleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "delete job NAME",
		Short:   "Delete a job (its runs and logs are kept)",
		Example: "  docket delete job nightly-train",
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && args[0] != "job":
				// A job's name alone: deleting is not guessed at.
				return usageError{fmt.Errorf("to delete job %s: docket delete job %s", args[0], args[0])}
			case len(args) == 2 && isQueueWord(args[0]):
				return usageError{fmt.Errorf("to delete queue %s: docket queues delete %s", args[1], args[1])}
			case len(args) != 2:
				return usageError{fmt.Errorf("use: docket delete job NAME")}
			case args[0] != "job":
				return usageError{fmt.Errorf("cannot delete a %q; use: docket delete job NAME", args[0])}
			}
			if err := e.client().DeleteJob(cmd.Context(), args[1]); err != nil {
				return err
			}
			if e.structured() {
				return e.print(map[string]any{"deleted": args[1]})
			}
			fmt.Fprintf(e.stdout, "job %s deleted\n", args[1])
			return nil
		},
	}
}

func suspendCmd(e *env, suspend bool) *cobra.Command {
	verb, done, doc := "resume", "resumed", "Resume a suspended job's schedule"
	if suspend {
		verb, done, doc = "suspend", "suspended", "Suspend a job's schedule (each slot is recorded as skipped)"
	}
	return &cobra.Command{
		Use:     verb + " NAME",
		Short:   doc,
		Example: "  docket " + verb + " nightly-train",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Said when it changes nothing: a resume of a job that was not suspended is no
			// sign that its runs were waiting.
			before, err := e.client().Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			j, err := e.client().SuspendJob(cmd.Context(), args[0], suspend)
			if err != nil {
				return err
			}
			if e.structured() {
				return e.print(j)
			}
			switch {
			case before.Suspended && suspend:
				fmt.Fprintf(e.stdout, "job %s was suspended already\n", j.Name)
				return nil
			case !before.Suspended && !suspend:
				fmt.Fprintf(e.stdout, "job %s was not suspended\n", j.Name)
				return nil
			}
			fmt.Fprintf(e.stdout, "job %s %s\n", j.Name, done)
			return nil
		},
	}
}

// isQueueWord reports whether a command's first argument names queues, which have
// commands of their own (docket queues).
func isQueueWord(word string) bool { return word == "queue" || word == "queues" }
