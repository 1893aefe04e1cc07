package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/cron"
)

func nextCmd(e *env) *cobra.Command {
	var (
		expr, zone, from string
		count            int
	)
	cmd := &cobra.Command{
		Use:   "next EXPR | next --schedule EXPR",
		Short: "Preview a schedule's next fire times",
		Long: `Print the next fire times of a schedule in a time zone, with their UTC offsets, as
the scheduler would fire them (daylight-saving changes included). Needs no server.`,
		Example: `  docket next "30 2 * * *" --timezone America/New_York
  docket next --schedule "30 2 * * *" --timezone America/New_York --from 2026-03-07T00:00:00Z
  docket next @hourly --count 3 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			given := "--schedule"
			switch {
			case len(args) == 1 && expr != "":
				return usageError{fmt.Errorf("give the schedule once: as the argument or as --schedule")}
			case len(args) == 1:
				expr, given = args[0], "schedule"
			case expr == "":
				return usageError{fmt.Errorf("which schedule? docket next \"30 2 * * *\" (or --schedule EXPR)")}
			}
			sched, err := cron.Parse(expr)
			if err != nil {
				return usageError{fmt.Errorf("%s %w", given, err)}
			}
			loc, err := time.LoadLocation(zone)
			if err != nil || zone == "Local" {
				return usageError{fmt.Errorf("--timezone %q is not an IANA time zone; use a name such as America/New_York or UTC", zone)}
			}
			if count < 1 || count > 1000 {
				return usageError{fmt.Errorf("--count %d: use 1 to 1000", count)}
			}
			start := time.Now()
			if from != "" {
				if start, err = time.Parse(time.RFC3339, from); err != nil {
					return usageError{fmt.Errorf("--from %q is not an RFC 3339 time such as 2026-11-23T00:00:00Z", from)}
				}
			}
			var times []string
			for t := start; len(times) < count; {
				t = sched.Next(t, loc)
				if t.IsZero() {
					break
				}
				times = append(times, t.In(loc).Format(time.RFC3339))
			}
			if len(times) == 0 {
				// apply refuses such a schedule, so this is an error here too.
				return fmt.Errorf("%q never fires (from %s); docket apply refuses such a schedule", expr, start.In(loc).Format(time.RFC3339))
			}
			if e.structured() {
				return e.print(map[string]any{"schedule": expr, "timezone": zone, "next_runs": times})
			}
			for _, t := range times {
				fmt.Fprintln(e.stdout, t)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&expr, "schedule", "", "cron expression, descriptor (@daily) or @every DURATION")
	cmd.Flags().StringVar(&zone, "timezone", "UTC", "IANA time zone")
	cmd.Flags().StringVar(&from, "from", "", "start after this RFC 3339 time (default now)")
	cmd.Flags().IntVar(&count, "count", 5, "how many fire times")
	return cmd
}
