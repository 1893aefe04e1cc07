package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/job"
)

func taskExecCmd(e *env) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "exec",
		Short: "Run the task docket task start left: its own command with its own env",
		Long: `Read DIR/start.json, which docket task start wrote, and become the task's command: the
pod's env with the task run's env over it (DOCKET_RUN_ID, DOCKET_TASK_INDEX,
DOCKET_TASK_INPUT, its own DOCKET_TOKEN...), in its input files' folder (DOCKET_INPUTS)
when it has any. The command replaces docket, so its exit code and signals are its own.
A task that succeeded already (carried over by a resumed array) runs nothing and exits 0.`,
		Example: "  /docket/task/docket task exec --dir /docket/task",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(filepath.Join(dir, startFile))
			if err != nil {
				return fmt.Errorf("read what docket task start left (does the init container run it with --dir %s?): %w", dir, err)
			}
			var started taskStarted
			if err := json.Unmarshal(data, &started); err != nil {
				return fmt.Errorf("read %s: %w", filepath.Join(dir, startFile), err)
			}
			switch started.Action {
			case job.TaskSkip:
				fmt.Fprintf(e.stdout, "run %s: nothing to run: %s\n", started.RunID, started.Message)
				return nil
			case job.TaskRun:
			default:
				return fmt.Errorf("%s holds action %q; docket task exec runs only run and skip", filepath.Join(dir, startFile), started.Action)
			}
			x, err := taskExecution(started, os.Environ())
			if err != nil {
				return err
			}
			if x.dir != "" {
				if err := os.Chdir(x.dir); err != nil {
					return fmt.Errorf("enter the input files' folder: %w", err)
				}
			}
			return fmt.Errorf("run %s: %w", x.argv[0], syscall.Exec(x.path, x.argv, x.env))
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "/docket/task", "the folder docket task start wrote to")
	return cmd
}

// taskProcess is what docket task exec becomes: the program at path with argv and env,
// in dir ("": where it is).
type taskProcess struct {
	path string
	argv []string
	env  []string
	dir  string
}

// taskExecution builds the process of a task run from the answer docket task start left
// and the pod's environment: the run's env over the pod's, DOCKET_INPUTS and the working
// directory when it has input files, and the command's program looked up on the PATH of
// that env.
func taskExecution(started taskStarted, environ []string) (taskProcess, error) {
	if len(started.Command) == 0 || started.Command[0] == "" {
		return taskProcess{}, fmt.Errorf("run %s has no command: give the job a command (the image's entrypoint is not run for an array's task)", started.RunID)
	}
	vars := map[string]string{}
	var order []string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	extra := make([]string, 0, len(started.Env))
	for k, v := range started.Env {
		if _, ok := vars[k]; !ok {
			extra = append(extra, k)
		}
		vars[k] = v
	}
	sort.Strings(extra)
	out := taskProcess{argv: started.Command}
	if started.Inputs > 0 && started.InputsDir != "" {
		if _, ok := vars["DOCKET_INPUTS"]; !ok {
			extra = append(extra, "DOCKET_INPUTS")
		}
		vars["DOCKET_INPUTS"] = started.InputsDir
		out.dir = started.InputsDir
	}
	for _, k := range append(order, extra...) {
		out.env = append(out.env, k+"="+vars[k])
	}
	path, err := lookPath(started.Command[0], vars["PATH"], out.dir)
	if err != nil {
		return taskProcess{}, err
	}
	out.path = path
	return out, nil
}

// lookPath finds a program as a shell would on the PATH given (not this process's): a
// name with a slash is taken as it is, relative to dir when it is not absolute.
func lookPath(name, path, dir string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) && dir != "" {
			name = filepath.Join(dir, name)
		}
		return name, nil
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, name)
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &ExitError{Code: 127, Err: errors.New(name + ": command not found on the PATH " + path)}
}
