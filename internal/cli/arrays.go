package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

// arrayFlags are the flags of docket run that make a run an array.
type arrayFlags struct {
	tasks, parallelism, maxFailed int
	eachLine                      string
	results                       bool
}

func (a *arrayFlags) add(f *pflag.FlagSet) {
	f.IntVar(&a.tasks, "array", 0, fmt.Sprintf("run the job as an array of N tasks (DOCKET_TASK_INDEX 0..N-1; at most %d)", job.MaxTasks))
	f.StringVar(&a.eachLine, "each-line", "", "run one task per non-empty line of FILE (\"-\": stdin); each gets its line as DOCKET_TASK_INPUT")
	f.IntVar(&a.parallelism, "parallelism", 0, "with an array, the most tasks running at once")
	f.IntVar(&a.maxFailed, "max-failed", -1, "with an array, how many failed tasks it tolerates before the rest are cancelled")
	f.BoolVar(&a.results, "results", false, "with --wait on an array, print each task's result as a JSON line to stdout at the end")
}

// apply puts the array the flags ask for into req; arraySet says --array was given (its
// 0 is then no array, and said so).
func (a arrayFlags) apply(req *client.RunRequest, stdin io.Reader, arraySet bool) error {
	if a.tasks < 0 || a.tasks > job.MaxTasks || arraySet && a.tasks == 0 {
		return usageError{fmt.Errorf("--array %d: use 1 to %d tasks", a.tasks, job.MaxTasks)}
	}
	if a.tasks > 0 && a.eachLine != "" {
		return usageError{errors.New("--array and --each-line both set the tasks; give one")}
	}
	req.Tasks, req.Parallelism = a.tasks, a.parallelism
	if a.maxFailed >= 0 {
		n := a.maxFailed
		req.MaxFailed = &n
	}
	if a.eachLine != "" {
		lines, err := readLines(a.eachLine, stdin)
		if err != nil {
			return err
		}
		req.Inputs = lines
	}
	return nil
}

// readLines reads the non-empty lines of a file ("-": r), refusing more than an array
// takes and lines longer than a task's input, naming the line.
func readLines(path string, r io.Reader) ([]string, error) {
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--each-line: %w", err)
		}
		defer f.Close()
		r = f
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), job.MaxInputBytes+2)
	var lines []string
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if strings.TrimSpace(line) == "" {
			continue // a blank line, spaces or not, is no task
		}
		if len(line) > job.MaxInputBytes {
			return nil, fmt.Errorf("--each-line %s: line %d is %d bytes; a task's input may be at most %d", path, n, len(line), job.MaxInputBytes)
		}
		if len(lines) == job.MaxTasks {
			return nil, fmt.Errorf("--each-line %s: more than %d lines; an array has at most %d tasks", path, job.MaxTasks, job.MaxTasks)
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("--each-line %s: line %d is longer than %d bytes, the most a task's input may be", path, n+1, job.MaxInputBytes)
		}
		return nil, fmt.Errorf("--each-line %s: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("--each-line %s: no lines; an array needs at least one task", path)
	}
	return lines, nil
}

// progressLine is an array's progress in one line: "37/100 succeeded, 2 failed, 10 running".
func progressLine(p client.Progress) string {
	s := fmt.Sprintf("%d/%d succeeded", p.Succeeded, p.Size)
	if p.Failed > 0 {
		s += fmt.Sprintf(", %d failed", p.Failed)
	}
	if other := p.Ended - p.Succeeded - p.Failed; other > 0 {
		s += fmt.Sprintf(", %d cancelled or skipped", other)
	}
	s += fmt.Sprintf(", %d running", p.Running)
	if p.Queued > 0 {
		s += fmt.Sprintf(", %d queued", p.Queued)
	}
	return s
}

// waitArray follows an array run to its end, showing its progress on stderr: one line
// rewritten in place on a terminal, a new line at each change otherwise.
func waitArray(ctx context.Context, e *env, c *client.Client, run job.Run) (job.Run, error) {
	tty, _, _ := terminal(e.stderr)
	last := ""
	for {
		res, err := c.Results(ctx, run.ID, -1, 0)
		if err != nil {
			return run, err
		}
		if line := progressLine(res.Progress); line != last {
			if tty {
				fmt.Fprintf(e.stderr, "\r\x1b[K%s", line)
			} else {
				fmt.Fprintln(e.stderr, line)
			}
			last = line
		}
		if res.State.Terminal() {
			if tty {
				fmt.Fprintln(e.stderr)
			}
			return c.Run(ctx, run.ID)
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(e.stderr)
			}
			return run, fmt.Errorf("stopped waiting; array run %s goes on (docket cancel %s stops it)", run.ID, run.ID)
		case <-time.After(pollEvery):
		}
	}
}

// resultsEvery is how often docket results --follow looks for tasks that ended.
const resultsEvery = time.Second

// printResults writes an array's tasks as JSON lines (YAML documents with -o yaml) in
// index order; with follow it waits for each task to end before writing it, until all
// have.
func printResults(ctx context.Context, e *env, c *client.Client, runID string, follow bool, download string) error {
	after, going := -1, 0
	for {
		page, err := c.Results(ctx, runID, after, 500)
		var ae *client.Error
		if errors.As(err, &ae) && ae.Code == "not_array" {
			return printRunResult(ctx, e, c, runID, follow, download)
		}
		if err != nil {
			return err
		}
		blocked := false
		for _, t := range page.Results {
			if follow && !t.State.Terminal() {
				blocked = true
				break
			}
			if err := e.printLine(t); err != nil {
				return err
			}
			if !t.State.Terminal() {
				going++
			}
			if download != "" {
				if err := downloadFiles(ctx, c, filepath.Join(download, strconv.Itoa(t.Index)), fmt.Sprintf("task %d", t.Index), t.Files); err != nil {
					return err
				}
			}
			after = t.Index
		}
		switch {
		case blocked:
		case page.NextAfter != nil:
			continue
		case !follow || after >= page.Progress.Size-1:
			if going > 0 && download != "" {
				fmt.Fprintf(e.stderr, "%s of the array still to end, whose files come once they do: --follow waits for each\n", countOf(going, "task"))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(resultsEvery):
		}
	}
}

// runResult is the line docket results prints of a run that is no array.
type runResult struct {
	State    job.State       `json:"state"`
	ExitCode *int            `json:"exit_code"`
	Result   json.RawMessage `json:"result"`
	Files    []job.File      `json:"files"`
	RunID    string          `json:"run_id"`
	Attempt  int             `json:"attempt"`
	Message  string          `json:"message,omitempty"`
}

// printRunResult prints what a run that is no array reported as one line, as
// printResults does a task's: its newest attempt's (with follow, once that has ended), and
// with download writes its output files under that folder.
func printRunResult(ctx context.Context, e *env, c *client.Client, runID string, follow bool, download string) error {
	for {
		r, err := c.Run(ctx, runID)
		if err != nil {
			return err
		}
		if r.Kind == job.KindWorkflow {
			return fmt.Errorf("run %s is a workflow; each step reports its own: docket results STEP_RUN_ID (docket describe run %s lists them)", runID, runID)
		}
		if follow && !r.State.Terminal() {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(resultsEvery):
				continue
			}
		}
		if r.State == job.StateFailed {
			// Its newest attempt answers, as an array's tasks' do (made with the failure).
			next, err := retryOf(ctx, c, r)
			if err != nil {
				return err
			}
			if next != nil {
				runID = next.ID
				continue
			}
		}
		rep, err := c.RunReport(ctx, runID)
		if err != nil {
			return err
		}
		_, files, err := c.RunFiles(ctx, runID)
		if err != nil {
			return err
		}
		if files == nil {
			files = []job.File{}
		}
		line := runResult{State: r.State, ExitCode: r.ExitCode, Result: rep.Result, Files: files, RunID: r.ID, Attempt: r.Attempt}
		if r.State != job.StateSucceeded {
			line.Message = r.Message
		}
		if err := e.printLine(line); err != nil {
			return err
		}
		if download == "" {
			return nil
		}
		return downloadFiles(ctx, c, download, "run "+r.ID, files)
	}
}

// printLine writes v as one compact JSON line, or as a YAML document with -o yaml.
func (e *env) printLine(v any) error {
	if e.output == outputYAML {
		fmt.Fprintln(e.stdout, "---")
		return e.print(v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", data)
	return err
}

func resultsCmd(e *env) *cobra.Command {
	var (
		follow   bool
		download string
	)
	cmd := &cobra.Command{
		Use:   "results RUN_ID",
		Short: "Print what a run reported; an array's tasks as JSON lines, in index order",
		Long: `Print each task of an array run as one JSON line, in index order:
{"index", "input", "state", "exit_code", "result", "files", "run_id", "attempt"}, where
result is what the task reported (docket report --result) and the state is its newest
attempt's. With --follow, wait for each task to end before printing it, until all have.
With --download DIR, each task's output files (docket report --file) are written to
DIR/INDEX/NAME.

A run that is no array prints one such line, without index and input, of its newest
attempt; --follow waits for that to end, and --download DIR writes its output files to
DIR/NAME.`,
		Example: `  docket results 019ab2c4-...
  docket results 019ab2c4-... --follow > results.jsonl
  docket results 019ab2c4-... --download ./out
  docket results 019ab2c4-... | jq -r 'select(.state == "failed") | .index'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return printResults(cmd.Context(), e, e.client(), args[0], follow, download)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "wait for each task to end, until the array has (a run that is no array: for its end)")
	cmd.Flags().StringVar(&download, "download", "", "write each task's output files to DIR/INDEX/NAME (a run that is no array: DIR/NAME)")
	return cmd
}

// downloadFiles writes the output files of a task or run (what, for errors) under dir.
func downloadFiles(ctx context.Context, c *client.Client, dir, what string, files []job.File) error {
	for _, f := range files {
		if err := checkRunPath(f.Path); err != nil {
			return fmt.Errorf("%s: output file %w", what, err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		_, err = c.DownloadBlob(ctx, f.SHA256, out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("download %s of %s: %w", f.Path, what, err)
		}
	}
	return nil
}

// output is one output file of a run or of one of its children, and the folder (under
// the one asked for) it is written to: an array's task's index, a workflow's step's name.
type output struct {
	sub  string
	file job.File
	run  string
}

// outputsOf lists the output files (docket report --file) of an ended run: its own, each
// task's of an array (its newest attempt's), each step's of a workflow.
func outputsOf(ctx context.Context, c *client.Client, r job.Run) ([]output, error) {
	var out []output
	switch {
	case r.Kind == job.KindArray:
		for after := -1; ; {
			page, err := c.Results(ctx, r.ID, after, 1000)
			if err != nil {
				return nil, err
			}
			for _, t := range page.Results {
				for _, f := range t.Files {
					out = append(out, output{strconv.Itoa(t.Index), f, t.RunID})
				}
				after = t.Index
			}
			if page.NextAfter == nil {
				return out, nil
			}
		}
	case r.Kind == job.KindWorkflow:
		steps, err := c.Children(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, st := range group.Latest(steps) {
			_, files, err := c.RunFiles(ctx, st.ID)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				out = append(out, output{st.Step, f, st.ID})
			}
		}
		slices.SortFunc(out, func(a, b output) int { return strings.Compare(a.sub, b.sub) })
		return out, nil
	}
	_, files, err := c.RunFiles(ctx, r.ID)
	for _, f := range files {
		out = append(out, output{"", f, r.ID})
	}
	return out, err
}

// saveOutputs writes an ended run's output files under dir (docket run --download), or,
// with dir empty, says how many there are and that --download keeps them (a --local
// run's go with its throwaway store).
func saveOutputs(ctx context.Context, e *env, c *client.Client, r job.Run, dir string) error {
	outs, err := outputsOf(ctx, c, r)
	if err != nil || len(outs) == 0 {
		return err
	}
	if dir == "" {
		fmt.Fprintf(e.stderr, "the run kept %s (docket report --file): --download DIR writes them out, else they are gone with this throwaway server\n", countOf(len(outs), "output file"))
		return nil
	}
	var total int64
	for _, o := range outs {
		what := "run " + o.run
		if o.sub != "" {
			what = o.sub + " (run " + o.run + ")"
		}
		if err := downloadFiles(ctx, c, filepath.Join(dir, o.sub), what, []job.File{o.file}); err != nil {
			return err
		}
		total += o.file.Size
	}
	fmt.Fprintf(e.stderr, "wrote %s, %s, under %s\n", countOf(len(outs), "output file"), bytesText(total), dir)
	return nil
}
