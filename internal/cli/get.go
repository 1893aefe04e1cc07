package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

func getCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get (job NAME | jobs)",
		Short: "Print job definitions as docket apply takes them",
		Long: `Print a job's definition, or every job's. With -o yaml or -o json it is the definition
as the server keeps it (every field, the defaults filled in), which docket apply -f takes
back unchanged: edit it and apply it again, or keep it under version control. Several
jobs in YAML are one document each, as docket apply reads them. Without -o, a table as
docket jobs prints (-o wide for more columns).`,
		Example: `  docket get job nightly-train -o yaml > nightly-train.yaml
  docket apply -f nightly-train.yaml          # job nightly-train unchanged
  docket get jobs -o yaml > jobs.yaml
  docket get job nightly-train -o wide`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isQueueWord(args[0]) {
				return usageError{fmt.Errorf("queues are listed with their limits by docket queues (-o json for every field)")}
			}
			if args[0] != "job" && args[0] != "jobs" {
				return usageError{fmt.Errorf("cannot get a %q; use: docket get job NAME, or docket get jobs", args[0])}
			}
			ctx := cmd.Context()
			c := e.client()
			var jobs []client.Job
			if len(args) == 2 {
				j, err := c.Job(ctx, args[1])
				if err != nil {
					return err
				}
				jobs = append(jobs, j)
			} else {
				var err error
				if jobs, err = c.Jobs(ctx); err != nil {
					return err
				}
			}
			if !e.structured() {
				if len(jobs) == 0 {
					fmt.Fprintln(e.stdout, "no jobs yet; create one with: docket apply -f FILE")
					return nil
				}
				return e.writeJobs(ctx, c, jobs)
			}
			specs := make([]job.Spec, len(jobs))
			for i, j := range jobs {
				specs[i] = j.Spec
			}
			switch {
			case len(args) == 2:
				return e.print(specs[0])
			case e.output == outputJSON:
				return e.print(map[string]any{"jobs": specs})
			}
			for i, s := range specs {
				if i > 0 {
					fmt.Fprintln(e.stdout, "---")
				}
				if err := e.print(s); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
