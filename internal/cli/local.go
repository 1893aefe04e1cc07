package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/server"
)

// localRun is docket run -f FILE --local: it runs one job of a definition file right now
// on this machine, through a throwaway Docket (SQLite in a temporary directory, the API on
// a loopback port, no scheduler), so the run gets the same validation, env contract,
// deadline, retries and log handling as on a server. It streams the run's events to
// stderr and its output to stdout (stderr too with -o json or yaml, which print the final
// run on stdout), and returns the job's exit code.
type localRun struct {
	file, name, executor, network string
	// download is where the run's output files are written once it ends ("": the run
	// says how many it kept, which go with the throwaway store).
	download string
	req      client.RunRequest
	// inputs are sent to the throwaway server, as to a real one.
	inputs inputFlags
}

func (l localRun) run(ctx context.Context, e *env) error {
	doc, spec, queues, err := l.pick(e)
	if err != nil {
		return err
	}
	name := spec.Name
	dir, err := os.MkdirTemp("", "docket-local-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cfg := server.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.Executor = l.executor
	cfg.ContainerNetwork = l.network
	cfg.Schedule = false
	cfg.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	ready := make(chan string, 1)
	cfg.Ready = func(addr string) { ready <- addr }

	srvCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- server.Run(srvCtx, cfg) }()
	defer func() {
		stop()
		<-done
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		done <- nil // for the deferred wait: the server has stopped already
		if l.executor == "container" {
			return fmt.Errorf("%w\n(use --executor process to run the command as a plain process)", err)
		}
		return err
	}

	c := client.New("http://" + addr)
	c.User = whoami()
	// The queues it names (and --queue): the file's, or one without limits made for this run.
	names := spec.Queues()
	if q := l.req.Queue; q != "" && !slices.Contains(names, q) {
		names = append(names, q)
	}
	for _, q := range names {
		body, ok := queues[q]
		if !ok {
			body = []byte("{}")
			fmt.Fprintf(e.stderr, "queue %s: not in %s, so made for this run with no limits\n", q, l.file)
		}
		if _, err := c.ApplyQueue(ctx, q, body); err != nil {
			return fmt.Errorf("%s: queue %s: %s", l.file, q, describeError(err))
		}
	}
	if _, err := c.ApplyJob(ctx, name, doc); err != nil {
		return fmt.Errorf("%s: %s", l.file, describeError(err))
	}
	shared, tasks, err := l.inputs.collect()
	if err != nil {
		return err
	}
	if err := sendFiles(ctx, e, c, append(shared, tasks...)); err != nil {
		return err
	}
	l.req.Files, l.req.TaskFiles = filesOf(shared), filesOf(tasks)
	run, _, err := c.SubmitRun(ctx, name, l.req, "")
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "running %s from %s with the %s executor, run %s\n", name, l.file, l.executor, run.ID)
	// With -o json or yaml, stdout holds only the final run; the job's output goes to stderr.
	progress := e
	if e.structured() {
		progress = &env{stdout: e.stderr, stderr: e.stderr, output: e.output}
	}
	var final job.Run
	switch {
	case run.Kind == job.KindArray:
		// An array's tasks' results, one JSON line each, are its output here.
		if final, err = waitArray(ctx, progress, c, run); err == nil {
			err = printResults(ctx, progress, c, run.ID, false, "")
		}
	case run.Group != nil:
		final, err = waitGroup(ctx, progress, c, run)
		if err == nil {
			err = stepLogs(ctx, progress, c, run.ID)
		}
	default:
		final, err = waitRun(ctx, progress, c, run, true)
	}
	if err != nil {
		if ctx.Err() != nil {
			// The deferred shutdown stops the run; it is recorded as interrupted.
			return &ExitError{Code: 130, Err: fmt.Errorf("interrupted; run %s was stopped", run.ID)}
		}
		return err
	}
	if err := saveOutputs(ctx, progress, c, final, l.download); err != nil {
		return err
	}
	return e.ended(final, e.stderr)
}

// pick returns the document of the job to run and the job: the only job in the file, or
// the one named; and the file's queues' documents, by name.
func (l localRun) pick(e *env) ([]byte, job.Spec, map[string][]byte, error) {
	data, err := readFile(e, l.file)
	if err != nil {
		return nil, job.Spec{}, nil, err
	}
	var (
		jobs   [][]byte
		specs  []job.Spec
		queues = map[string][]byte{}
	)
	docs := definition.SplitDocuments(data)
	for i, doc := range docs {
		where := l.file
		if len(docs) > 1 {
			where = fmt.Sprintf("%s (document %d)", l.file, i+1)
		}
		if definition.KindOf(doc) == definition.KindQueue {
			q, err := definition.DecodeQueue(doc, "")
			if err != nil {
				return nil, job.Spec{}, nil, fmt.Errorf("%s: %s", where, describeError(err))
			}
			queues[q.Name] = doc
			continue
		}
		spec, err := definition.Decode(doc)
		if err != nil {
			return nil, job.Spec{}, nil, fmt.Errorf("%s: %w", where, err)
		}
		if spec.Name == "" {
			return nil, job.Spec{}, nil, fmt.Errorf("%s: name: is required", where)
		}
		jobs, specs = append(jobs, doc), append(specs, spec)
	}
	for i, spec := range specs {
		if l.name == "" && len(specs) == 1 || spec.Name == l.name {
			return jobs[i], spec, queues, nil
		}
	}
	names := make([]string, len(specs))
	for i, spec := range specs {
		names[i] = spec.Name
	}
	switch {
	case len(specs) == 0:
		return nil, job.Spec{}, nil, fmt.Errorf("%s holds no job definition", l.file)
	case l.name == "":
		return nil, job.Spec{}, nil, usageError{fmt.Errorf("%s defines %d jobs (%s); name the one to run: docket run %s -f %s --local", l.file, len(specs), strings.Join(names, ", "), names[0], l.file)}
	default:
		return nil, job.Spec{}, nil, usageError{fmt.Errorf("%s defines no job %q; it has %s", l.file, l.name, strings.Join(names, ", "))}
	}
}
