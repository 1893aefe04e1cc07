package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/execute"
)

func inputsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inputs",
		Short: "From inside a run: fetch the run's input files",
	}
	var dir, runID string
	fetch := &cobra.Command{
		Use:   "fetch",
		Short: "Fetch the run's input files into a folder (what a pod's init container runs)",
		Long: `Fetch the input files of the run DOCKET_RUN_ID names into --dir, with the run's own token
(DOCKET_TOKEN) from the server DOCKET_API names: what the Kubernetes executor's init
container runs, so the files are in the pod's working directory before the job starts.`,
		Example: "  docket inputs fetch --dir /docket/inputs",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runID == "" {
				return usageError{errors.New("no run: DOCKET_RUN_ID is not set (fetch runs inside a run), and --run is not given")}
			}
			if !cmd.Flags().Changed("server") {
				if api := os.Getenv("DOCKET_API"); api != "" {
					e.server = api
				}
			}
			return fetchInputs(cmd.Context(), e.client(), runID, dir, e.stderr)
		},
	}
	fetch.Flags().StringVar(&dir, "dir", ".", "the folder to place the files in")
	fetch.Flags().StringVar(&runID, "run", os.Getenv("DOCKET_RUN_ID"), "the run whose files to fetch (env DOCKET_RUN_ID)")
	cmd.AddCommand(fetch)
	return cmd
}

// fetchInputs places the input files of run runID under dir, read with c (whose token is
// the run's own, inside a run), and says how much it fetched on progress.
func fetchInputs(ctx context.Context, c *client.Client, runID, dir string, progress io.Writer) error {
	inputs, _, err := c.RunFiles(ctx, runID)
	if err != nil {
		return err
	}
	var total int64
	for _, f := range inputs {
		if err := checkRunPath(f.Path); err != nil {
			return fmt.Errorf("input file %w", err)
		}
		err := execute.PlaceFile(dir, f, "got", func(w io.Writer) (int64, error) { return c.RunInput(ctx, runID, f.SHA256, w) })
		if err != nil {
			return fmt.Errorf("input file %s: %w", f.Path, err)
		}
		total += f.Size
	}
	fmt.Fprintf(progress, "fetched %d input files, %s, into %s\n", len(inputs), bytesText(total), dir)
	return nil
}
