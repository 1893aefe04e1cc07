package cli

import (
	"bufio"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/auth"
)

func tokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make API tokens for a server's tokens file",
		Long: `A server started with --tokens-file FILE accepts only the tokens listed there, each
with a name (who acts) and a role: viewer (reads), editor (also applies, runs, cancels,
suspends and resumes jobs) or admin (also deletes jobs). The file keeps each token's
SHA-256, not the token. A token given --team changes only the jobs labelled with one of
its teams (labels: {team: NAME}); it still reads every job. A runner token (--role runner
--job NAME) only submits runs of the jobs it names and reads those jobs and their runs: a
CI system posts to POST /api/v1/jobs/NAME/runs with it and an Idempotency-Key. The docket command sends the token in DOCKET_TOKEN (or the
token: line of its config file).

With --aws, token new makes an AWS access key pair instead, for the AWS Batch face (aws
batch, boto3, the AWS SDKs sign their requests with it). SigV4 needs the secret itself on
the server, so that entry holds it: keep the tokens file private.`,
	}
	var (
		name, role string
		teams      []string
		jobs       []string
		aws        bool
	)
	newCmd := &cobra.Command{
		Use:   "new --name NAME --role ROLE [--team TEAM]... [--aws]",
		Short: "Make a new random token and its tokens file entry",
		Example: `  docket token new --name ana --role editor
  docket token new --name ana --role admin --team data-science
  docket token new --name ci --role viewer -o json
  docket token new --name ci --role runner --job nightly-pipeline
  docket token new --name ana --role editor --aws   # an AWS key pair for aws batch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usageError{errors.New("--name is required: who the token acts as")}
			}
			r, err := auth.ParseRole(role)
			if err != nil {
				return usageError{fmt.Errorf("--role: %w", err)}
			}
			for _, team := range teams {
				if err := auth.CheckTeam(team); err != nil {
					return usageError{fmt.Errorf("--team: %w", err)}
				}
			}
			switch {
			case aws && r == auth.Runner:
				return usageError{errors.New("--aws: a runner token posts to Docket's own API; an AWS key pair is a viewer, editor or admin")}
			case r == auth.Runner && len(jobs) == 0:
				return usageError{errors.New("--job is required with --role runner: the jobs the token may run")}
			case r != auth.Runner && len(jobs) > 0:
				return usageError{errors.New("--job limits a runner token; give --role runner")}
			}
			if aws {
				return printAWSKey(e, name, r, teams)
			}
			secret, err := auth.New()
			if err != nil {
				return err
			}
			entry := fmt.Sprintf("{name: %s, role: %s, sha256: %s}", yamlWord(name), r, auth.Hash(secret))
			if len(teams) > 0 {
				entry = fmt.Sprintf("{name: %s, role: %s, teams: [%s], sha256: %s}", yamlWord(name), r, strings.Join(teams, ", "), auth.Hash(secret))
			}
			if len(jobs) > 0 {
				entry = fmt.Sprintf("{name: %s, role: %s, jobs: [%s], sha256: %s}", yamlWord(name), r, strings.Join(jobs, ", "), auth.Hash(secret))
			}
			if e.structured() {
				return e.print(map[string]any{"name": name, "role": r.String(), "teams": teams, "jobs": jobs, "token": secret, "sha256": auth.Hash(secret)})
			}
			fmt.Fprintf(e.stdout, "token for %s (shown once; give it to them, e.g. as DOCKET_TOKEN):\n  %s\n", name, secret)
			fmt.Fprintf(e.stdout, "entry for the server's tokens file (under tokens:):\n  - %s\n", entry)
			return nil
		},
	}
	newCmd.Flags().StringVar(&name, "name", "", "who the token acts as; shown as the actor of what it does")
	newCmd.Flags().StringVar(&role, "role", "viewer", "runner, viewer, editor or admin")
	newCmd.Flags().StringSliceVar(&jobs, "job", nil, "with --role runner: a job the token may run and read (repeat for several)")
	newCmd.Flags().BoolVar(&aws, "aws", false, "make an AWS access key pair for the AWS Batch face (aws batch, boto3) instead of a bearer token")
	newCmd.Flags().StringSliceVar(&teams, "team", nil, "limit the token to changing jobs labelled team: TEAM (repeat or comma-separate for several)")
	hashCmd := &cobra.Command{
		Use:     "hash",
		Short:   "Print the SHA-256 of a token read from stdin, for the tokens file",
		Example: `  printenv DOCKET_TOKEN | docket token hash`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(e.stdin).ReadString('\n')
			secret := strings.TrimSpace(line)
			if secret == "" {
				if err != nil {
					return fmt.Errorf("read the token from stdin: %w", err)
				}
				return usageError{errors.New("no token on stdin")}
			}
			fmt.Fprintln(e.stdout, auth.Hash(secret))
			return nil
		},
	}
	cmd.AddCommand(newCmd, hashCmd)
	return cmd
}

// printAWSKey makes an AWS key pair acting as a token, and its tokens file entry. The
// entry holds the secret itself: SigV4 needs it to check a signature.
func printAWSKey(e *env, name string, r auth.Role, teams []string) error {
	id, secret, err := auth.NewAWSKey()
	if err != nil {
		return err
	}
	teamPart := ""
	if len(teams) > 0 {
		teamPart = fmt.Sprintf(", teams: [%s]", strings.Join(teams, ", "))
	}
	entry := fmt.Sprintf("{name: %s, role: %s%s, aws_access_key_id: %s, aws_secret_access_key: %q}", yamlWord(name), r, teamPart, id, secret)
	if e.structured() {
		return e.print(map[string]any{"name": name, "role": r.String(), "teams": teams, "aws_access_key_id": id, "aws_secret_access_key": secret})
	}
	fmt.Fprintf(e.stdout, "AWS key pair for %s (shown once; give it to them):\n", name)
	fmt.Fprintf(e.stdout, "  AWS_ACCESS_KEY_ID=%s\n  AWS_SECRET_ACCESS_KEY=%s\n", id, secret)
	fmt.Fprintf(e.stdout, "entry for the server's tokens file (under tokens:; it holds the secret, so keep the file private):\n  - %s\n", entry)
	return nil
}

// plainWord is what YAML reads as the same plain string, in a flow mapping too.
var plainWord = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.@-]*$`)

// yamlWord is s as a YAML scalar of a tokens file's entry: as it is when YAML reads it
// back the same, else quoted ("x #1", "ana, the lead").
func yamlWord(s string) string {
	if plainWord.MatchString(s) && !slices.Contains([]string{"true", "false", "yes", "no", "on", "off", "null"}, strings.ToLower(s)) {
		return s
	}
	return strconv.Quote(s)
}
