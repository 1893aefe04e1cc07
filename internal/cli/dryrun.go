package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// previewRun prints what a run of name would be, from the server's dry run.
func previewRun(ctx context.Context, e *env, c *client.Client, name string, req client.RunRequest) error {
	p, err := c.PreviewRun(ctx, name, req)
	if err != nil {
		return err
	}
	switch {
	case e.output == outputYAML && len(p.Manifest) > 0:
		// The Job alone: what kubectl apply takes.
		out, err := yamlOf(p.Manifest)
		if err != nil {
			return err
		}
		_, err = e.stdout.Write(out)
		return err
	case e.structured():
		// The files it would send, which the server's preview does not hold.
		return e.print(struct {
			client.RunPreview
			Files     []job.File `json:"files,omitempty"`
			TaskFiles []job.File `json:"task_files,omitempty"`
		}{p, req.Files, req.TaskFiles})
	}
	tw := e.table()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Job", fmt.Sprintf("%s (revision %d)", p.Run.Job, p.Run.Revision))
	queue := p.Run.Queue
	if queue == "" {
		queue = "default"
	}
	row("Queue", fmt.Sprintf("%s (the run's priority in it: %d)", queue, p.Run.Priority))
	for _, k := range slices.Sorted(maps.Keys(p.Run.Params)) {
		row("Param", k+"="+p.Run.Params[k])
	}
	if g, t := p.Run.Group, p.Task; g != nil && t != nil {
		switch {
		case t.TaskIndex != nil:
			row("Array", fmt.Sprintf("%d tasks; task %d is shown below", g.Size, *t.TaskIndex))
		case t.Step != "":
			row("Workflow", fmt.Sprintf("%d steps; step %s (the first that needs none) is shown below", g.Size, t.Step))
		}
	}
	if len(req.Files) > 0 {
		row("Files", filesText(req.Files, ""))
	}
	if len(req.TaskFiles) > 0 {
		row("Task files", filesText(req.TaskFiles, ", one for each task"))
	}
	row("Image", p.Image)
	row("Command", strings.Join(quoteArgs(p.Command), " "))
	row("Resources", fmt.Sprintf("cpu %s, memory %s, deadline %s", p.CPU, p.Memory, p.Deadline))
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		row("Env", k+"="+p.Env[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Manifest) > 0 {
		out, err := yamlOf(p.Manifest)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "\nKubernetes Job (docket run %s --dry-run -o yaml prints it alone):\n%s", name, out)
	}
	if len(req.Files)+len(req.TaskFiles) > 0 {
		fmt.Fprintln(e.stderr, "dry run: nothing was stored or started, and no file was sent")
		return nil
	}
	fmt.Fprintln(e.stderr, "dry run: nothing was stored or started")
	return nil
}

// filesText is how many files there are, their size, note, and the first few paths.
func filesText(files []job.File, note string) string {
	const shown = 5
	var total int64
	paths := make([]string, 0, shown+1)
	for i, f := range files {
		total += f.Size
		if i < shown {
			paths = append(paths, f.Path)
		}
	}
	if len(files) > shown {
		paths = append(paths, fmt.Sprintf("and %d more", len(files)-shown))
	}
	return fmt.Sprintf("%s, %s%s: %s", countOf(len(files), "file"), bytesText(total), note, strings.Join(paths, ", "))
}

// countOf is n and noun, plural unless n is 1: "1 file", "3 files".
func countOf(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// quoteArgs quotes the arguments a shell would split.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// dryApply shows what applying docs would do, from the server's dry runs; the file's
// queues count as existing for its jobs.
func dryApply(ctx context.Context, e *env, file string, docs [][]byte) error {
	queues, jobs, err := dryCheck(ctx, e.client(), file, docs)
	if err != nil {
		return err
	}
	if e.structured() {
		return e.print(map[string]any{"dry_run": true, "queues": queues, "jobs": jobs})
	}
	for _, q := range queues {
		fmt.Fprintf(e.stdout, "queue %s: %s (%s, max running %s, max starts/s %s, priority %d)\n", q.Queue.Name, q.Change, q.Queue.State(),
			limitText(float64(q.Queue.MaxRunning)), limitText(q.Queue.MaxStartsPerSecond), q.Queue.Priority)
		for _, d := range q.Diff {
			fmt.Fprintln(e.stdout, "  "+d)
		}
	}
	for _, j := range jobs {
		line := fmt.Sprintf("job %s: %s", j.Name, j.Change)
		if j.Change == "changed" {
			line += fmt.Sprintf(" (revision %d)", j.Revision)
		}
		fmt.Fprintln(e.stdout, line)
		for _, d := range j.Diff {
			fmt.Fprintln(e.stdout, "  "+d)
		}
		for _, t := range j.NextRuns {
			fmt.Fprintln(e.stdout, "  next run "+t.Format(time.RFC3339))
		}
	}
	fmt.Fprintln(e.stderr, "dry run: nothing was stored")
	return nil
}

// dryCheck has the server check each document of file as apply would, in apply's order,
// storing nothing, and returns what each would change.
func dryCheck(ctx context.Context, c *client.Client, file string, docs [][]byte) ([]client.DryQueue, []client.DryJob, error) {
	var (
		queues          []client.DryQueue
		jobs            []client.DryJob
		queued, applied []string // the names set before, which the server counts as there
	)
	err := applyDocs(file, docs, func(d named) error {
		got, err := c.DryApplyQueue(ctx, d.name, d.doc)
		queues, queued = append(queues, got), append(queued, d.name)
		return err
	}, func(d named) error {
		// The jobs it runs after that the file sets before it (applyDocs put them first).
		var upstream []string
		for _, up := range d.after {
			if slices.Contains(applied, up) {
				upstream = append(upstream, up)
			}
		}
		// The queues it names that the file sets before it.
		var named []string
		for _, q := range d.queues {
			if slices.Contains(queued, q) {
				named = append(named, q)
			}
		}
		got, err := c.DryApplyJob(ctx, d.name, d.doc, named, upstream)
		jobs, applied = append(jobs, got), append(applied, d.name)
		return err
	})
	return queues, jobs, err
}
