package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNext: the schedule is the argument or --schedule, not both, and one of them.
func TestNext(t *testing.T) {
	t.Parallel()
	const want = "2026-03-08T03:30:00-04:00\n2026-03-09T02:30:00-04:00\n"
	for _, tc := range []struct {
		args    []string
		out     string
		problem string
	}{
		{args: []string{"30 2 * * *"}, out: want},
		{args: []string{"--schedule", "30 2 * * *"}, out: want},
		{args: []string{"30 2 * * *", "--schedule", "@daily"}, problem: "give the schedule once"},
		{args: nil, problem: "which schedule?"},
		{args: []string{"30 2 * *"}, problem: "schedule "},
		{args: []string{"--schedule", "30 2 * *"}, problem: "--schedule "},
		{args: []string{"0 0 31 2 *"}, problem: `"0 0 31 2 *" never fires (from 2026-03-07T07:00:00-05:00); docket apply refuses such a schedule`},
	} {
		var out, errOut bytes.Buffer
		args := append([]string{"next"}, tc.args...)
		args = append(args, "--timezone", "America/New_York", "--from", "2026-03-07T12:00:00Z", "--count", "2")
		err := Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
		switch {
		case tc.problem == "" && (err != nil || out.String() != tc.out):
			t.Errorf("docket %q: %v\n%s; want\n%s", args, err, out.String(), tc.out)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("docket %q: %v; want an error saying %q", args, err, tc.problem)
		}
	}
}

// TestArgErrorUsage: a command given arguments it does not take says so, then how it is
// called and its examples, and exits 2.
func TestArgErrorUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), []string{"next", "@daily", "@hourly"}, strings.NewReader(""), &out, &errOut)
	if ExitCode(err) != 2 {
		t.Errorf("exit %d (%v); want 2", ExitCode(err), err)
	}
	for _, want := range []string{
		"docket: accepts at most 1 arg(s), received 2\n",
		"Usage: docket next EXPR | next --schedule EXPR [flags]\n",
		"Examples:\n  docket next \"30 2 * * *\" --timezone America/New_York\n",
		"See 'docket next --help'.\n",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr:\n%s\nwant %q in it", errOut.String(), want)
		}
	}
}

// TestFlagValueError: a flag given a value of the wrong kind says what kind it wants, not
// what strconv said.
func TestFlagValueError(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{
		"run x --array abc":                 `invalid argument "abc" for "--array" flag: want a whole number`,
		"runs --limit 99999999999999999999": `invalid argument "99999999999999999999" for "--limit" flag: want a whole number in range`,
		"run x --array strconv.x":           `invalid argument "strconv.x" for "--array" flag: want a whole number`,
		"logs x --follow=maybe":             `invalid argument "maybe" for "-f, --follow" flag: want true or false`,
	} {
		wantUsage(t, append(strings.Fields(args), "--server", noServer), want)
	}
}

// TestRunFlagsUsage: run flags that would do nothing are refused, saying what they need.
func TestRunFlagsUsage(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{
		"run x --array 0":                "--array 0: use 1 to 10000 tasks",
		"run x --logs":                   "--logs streams the run's output while it runs: add --wait",
		"run x --array 3 --results":      "--results prints each task's result once the array has ended: add --wait",
		"run x --executor process":       "--executor is for --local runs; a server runs jobs as its own --executor says",
		"run x --container-network none": "--container-network is for --local runs; a server runs jobs as its own --container-network says",
		"run x --download out":           "--download writes the run's output files once it has ended: add --wait (or later: docket results RUN_ID --download DIR)",
		"run x --params a=1":             "unknown flag: --params; did you mean --param?",
		"runs --stat failed":             "unknown flag: --stat; did you mean --state?",
		"run x --zzzzzz":                 "unknown flag: --zzzzzz",
	} {
		wantUsage(t, append(strings.Fields(args), "--server", noServer), want)
	}
}

// TestRunDefinitionAsInput: a YAML file given to a run of a named job is sent as an input
// file, and the run says so, with how to run the job it defines instead.
func TestRunDefinitionAsInput(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "train.yaml")
	if err := os.WriteFile(file, []byte("name: train\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	Run(context.Background(), []string{"run", "train", "-f", file, "--dry-run", "--server", noServer}, strings.NewReader(""), &out, &errOut)
	if want := "note: " + file + " goes to the run as an input file; to run the job it defines on this machine: docket run -f " + file + " --local\n"; !strings.HasPrefix(errOut.String(), want) {
		t.Errorf("stderr:\n%s\nwant it to start with %q", errOut.String(), want)
	}
}

// noServer is where no server listens: a usage error comes before any request.
const noServer = "http://127.0.0.1:1"

// wantUsage runs docket with args and wants the usage error want, exit 2.
func wantUsage(t *testing.T, args []string, want string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	if err == nil || err.Error() != want || ExitCode(err) != 2 {
		t.Errorf("docket %s: %v (exit %d); want %q, exit 2", strings.Join(args, " "), err, ExitCode(err), want)
	}
}
