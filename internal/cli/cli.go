// Package cli is the docket command: the server and the client commands that talk to it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/user"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/execute/process"
)

// Version is set at build time with -ldflags "-X docket.dev/docket/internal/cli.Version=...".
var Version = "dev"

// ExitError carries the exit code a command wants, such as a failed run's.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageError marks an error in how the command was called.
type usageError struct{ error }

// ExitCode maps Run's error to the process exit code: 0 on success, 2 for usage errors,
// the code an ExitError asks for, 1 otherwise.
func ExitCode(err error) int {
	var ee *ExitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// env is what every command works with.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	server         string
	output         string
	token          string
}

func (e *env) client() *client.Client {
	c := client.New(e.server)
	c.User = whoami()
	c.Token = e.token
	c.Waiting = func(msg string) { fmt.Fprintln(e.stderr, msg) }
	return c
}

// table returns a tab writer for aligned columns; the caller flushes it.
func (e *env) table() *tabwriter.Writer {
	return tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
}

// Run runs the docket command with args (without the program name) and prints any error
// to stderr. The caller turns the error into an exit code with ExitCode.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == process.KeeperArg {
		// A process run's keeper, started by the server: no configuration, no flags.
		return process.Keep()
	}
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "docket",
		Short: "Docket runs batch jobs on a schedule or on demand",
		Long: `Docket runs batch jobs: nightly loads, model training, reports. Register a job by
name, image, cpu, memory and schedule; Docket fires each slot once, runs it, records
every state change with a reason, and keeps the logs.

Start a server with 'docket server' (SQLite under ./.docket, jobs as local processes),
then use the other commands to talk to it.`,
		Example: `  docket server
  docket apply -f examples/hello.yaml
  docket run hello --wait
  docket runs --job hello
  docket logs RUN_ID -f`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cfg, err := loadConfig()
	if err != nil {
		fmt.Fprintln(stderr, "docket:", err)
		return usageError{err}
	}
	server := os.Getenv("DOCKET_SERVER")
	if server == "" {
		server = cfg.Server
	}
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	e.token = os.Getenv("DOCKET_TOKEN")
	if e.token == "" {
		e.token = cfg.Token
	}
	root.PersistentFlags().StringVar(&e.server, "server", server, "Docket server URL (env DOCKET_SERVER)")
	root.PersistentFlags().StringVarP(&e.output, "output", "o", "text", "output format: text, wide (text with more columns), json or yaml")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(e.output); err != nil {
			return usageError{err}
		}
		return nil
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{nearFlag(cmd, plainFlagError(err))} })
	root.AddCommand(
		serverCmd(e), applyCmd(e), getCmd(e), jobsCmd(e), runCmd(e), runsCmd(e), describeCmd(e), logsCmd(e),
		cancelCmd(e), deleteCmd(e), suspendCmd(e, true), suspendCmd(e, false), nextCmd(e), tokenCmd(e), reportCmd(e), resultsCmd(e), inputsCmd(e), versionCmd(e), retryCmd(e),
		queuesCmd(e), taskCmd(e),
	)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Err.Error() != "" {
			fmt.Fprintln(stderr, "docket:", describeError(err))
		}
		if isArgError(err) {
			if cmd != nil && !isFlagError(err) {
				// Arguments the command does not take: say what it does take.
				fmt.Fprintf(stderr, "Usage: %s\n", cmd.UseLine())
				if cmd.Example != "" {
					fmt.Fprintf(stderr, "Examples:\n%s\n", cmd.Example)
				}
				fmt.Fprintf(stderr, "See '%s --help'.\n", cmd.CommandPath())
			}
			err = usageError{err}
		}
	}
	return err
}

// describeError formats an API error with its field. A run not found by something that
// is no run id (a job's name, most likely) gets a hint.
func describeError(err error) string {
	var ae *client.Error
	if !errors.As(err, &ae) {
		return err.Error()
	}
	if ae.Field != "" && !strings.HasPrefix(ae.Message, ae.Field) {
		return ae.Field + ": " + ae.Message
	}
	var id string
	if _, serr := fmt.Sscanf(ae.Message, "run %q not found", &id); serr == nil && err == error(ae) && ae.Status == http.StatusNotFound && !runIDShape.MatchString(id) {
		if runIDStart.MatchString(id) {
			// A run id cut short, as a narrow table or a copy leaves it.
			return fmt.Sprintf("%s; a run id is 36 characters, like 019ab2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b: copy the whole of it (docket runs lists them)", ae.Message)
		}
		return fmt.Sprintf("%s; a run id looks like 019ab2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b: docket runs --job %s lists the runs of a job of that name", ae.Message, id)
	}
	return err.Error()
}

// runIDShape is the shape of a run id (a UUID), and runIDStart of the start of one that
// a job's name is not (eight hex digits and a dash, at least).
var (
	runIDShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	runIDStart = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f-]*$`)
)

// nearFlag adds to an unknown flag's error the flag of cmd meant, when one is near.
func nearFlag(cmd *cobra.Command, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return err
	}
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	if near := definition.Nearest(name, names); near != "" {
		return fmt.Errorf("%w; did you mean --%s?", err, near)
	}
	return err
}

// plainFlagError says what a flag's value should have been where pflag quotes strconv:
// `invalid argument "abc" for "--array" flag: strconv.ParseInt: parsing "abc": invalid
// syntax` becomes `invalid argument "abc" for "--array" flag: want a whole number`.
func plainFlagError(err error) error {
	msg := err.Error()
	i := strings.LastIndex(msg, ": strconv.Parse")
	if i < 0 {
		return err
	}
	parse := msg[i+len(": strconv."):]
	want := "a number"
	switch {
	case strings.HasPrefix(parse, "ParseInt"), strings.HasPrefix(parse, "ParseUint"):
		want = "a whole number"
	case strings.HasPrefix(parse, "ParseBool"):
		want = "true or false"
	}
	if strings.HasSuffix(msg, "value out of range") {
		want += " in range"
	}
	return errors.New(msg[:i+2] + "want " + want)
}

// isArgError recognizes cobra's errors about arguments, commands and flags.
func isArgError(err error) bool {
	return hasPrefix(err, "accepts ", "requires ", "unknown command") || isFlagError(err)
}

// isFlagError recognizes cobra's errors about flags, which name the flag already.
func isFlagError(err error) bool {
	return hasPrefix(err, "unknown flag", "unknown shorthand")
}

// hasPrefix reports whether err's message starts with one of prefixes.
func hasPrefix(err error, prefixes ...string) bool {
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(err.Error(), p) })
}

// whoami names the person at the keyboard as user@host, for cancel records.
func whoami() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the docket version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if e.structured() {
				return e.print(map[string]string{"version": Version})
			}
			fmt.Fprintln(e.stdout, "docket", Version)
			return nil
		},
	}
}
