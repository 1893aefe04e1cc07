package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/spf13/cobra"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

func queuesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queues",
		Short: "List queues with their limits, state and what runs and waits in each",
		Long: `List the queues: each one's max_running, start rate, priority and state, and how many
of its runs are active (dispatched, pending or running) and queued. The default queue
holds the runs of jobs that name no queue; each server's --parallelism is its limit.

A disabled queue's queued runs are not started until it is enabled again; its active
runs go on, and new runs may still be submitted to it and wait.

A queue is also a YAML document that docket apply takes:

  kind: Queue
  name: gpu
  max_running: 4            # 0: no cap
  max_starts_per_second: 2  # 0: no cap
  priority: 10              # 0-1000; higher queues' runs are claimed first
  disabled: false           # true holds its queued runs until it is enabled`,
		Example: `  docket queues
  docket queues set gpu --max-running 4 --priority 10
  docket queues set etl --max-starts-per-second 2
  docket queues set gpu --disable     # hold its queued runs (running ones go on)
  docket queues set gpu --enable      # start them again
  docket queues delete gpu
  docket queues -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			qs, err := e.client().Queues(cmd.Context())
			if err != nil {
				return err
			}
			if e.structured() {
				return e.print(qs)
			}
			tw := e.table()
			fmt.Fprintln(tw, "NAME\tSTATE\tPRIORITY\tMAX RUNNING\tMAX STARTS/S\tRUNNING\tQUEUED")
			fmt.Fprintf(tw, "(default)\tenabled\t0\t--parallelism\t-\t%d\t%d\n", qs.Default.Running, qs.Default.Queued)
			for _, q := range qs.Queues {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\n", q.Name, q.State(), q.Priority, limitText(float64(q.MaxRunning)), limitText(q.MaxStartsPerSecond), q.Running, q.Queued)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(queueSetCmd(e), queueDeleteCmd(e))
	return cmd
}

// limitText shows a limit, "-" for none.
func limitText(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func queueSetCmd(e *env) *cobra.Command {
	var (
		q               job.Queue
		disable, enable bool
	)
	cmd := &cobra.Command{
		Use:   "set NAME [--max-running N] [--max-starts-per-second R] [--priority P] [--disable|--enable]",
		Short: "Create a queue or change its limits, priority and state",
		Long: `Create a queue, or change its limits, priority and state: a flag left out keeps the
queue's value (0 for a new queue: no cap, lowest priority; enabled). New limits hold from
the next claim; lowering one stops no run that runs.

--disable holds the queue's queued runs: none starts until --enable, which lets them start
at once. Runs already active go on, and new runs may still be submitted and wait; docket
describe run ID says they wait for "queue NAME is disabled".`,
		Example: `  docket queues set gpu --max-running 4 --priority 10
  docket queues set apiserver --max-starts-per-second 5
  docket queues set gpu --disable
  docket queues set gpu --enable -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q.Name = args[0]
			c := e.client()
			cur, err := c.Queue(cmd.Context(), q.Name)
			var ae *client.Error
			switch {
			case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
			case err != nil:
				return err
			default:
				f := cmd.Flags()
				if !f.Changed("max-running") {
					q.MaxRunning = cur.MaxRunning
				}
				if !f.Changed("max-starts-per-second") {
					q.MaxStartsPerSecond = cur.MaxStartsPerSecond
				}
				if !f.Changed("priority") {
					q.Priority = cur.Priority
				}
				q.Disabled = cur.Disabled
			}
			if disable || enable {
				q.Disabled = disable
			}
			doc, err := json.Marshal(map[string]any{"max_running": q.MaxRunning, "max_starts_per_second": q.MaxStartsPerSecond, "priority": q.Priority, "disabled": q.Disabled})
			if err != nil {
				return err
			}
			got, err := c.ApplyQueue(cmd.Context(), q.Name, doc)
			if err != nil {
				return err
			}
			if e.structured() {
				return e.print(got)
			}
			fmt.Fprintln(e.stdout, queueLine(got))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&q.MaxRunning, "max-running", 0, "how many of its runs may be active at once (0: no cap)")
	f.Float64Var(&q.MaxStartsPerSecond, "max-starts-per-second", 0, "how fast its runs may start (0: no cap)")
	f.IntVar(&q.Priority, "priority", 0, "0-1000: runs of higher queues are claimed first")
	f.BoolVar(&disable, "disable", false, "hold the queue's queued runs until it is enabled (active runs go on)")
	f.BoolVar(&enable, "enable", false, "let the queue's queued runs start again")
	cmd.MarkFlagsMutuallyExclusive("disable", "enable")
	return cmd
}

func queueLine(q client.AppliedQueue) string {
	verb := "unchanged"
	switch {
	case q.Changed && q.Queue.CreatedAt.Equal(q.Queue.UpdatedAt):
		verb = "created" // a name misspelt makes a new queue: say so
	case q.Changed:
		verb = "set"
	}
	return fmt.Sprintf("queue %s %s (%s, max running %s, max starts/s %s, priority %d)", q.Queue.Name, verb, q.Queue.State(),
		limitText(float64(q.Queue.MaxRunning)), limitText(q.Queue.MaxStartsPerSecond), q.Queue.Priority)
}

func queueDeleteCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a queue that no job names",
		Example: "  docket queues delete gpu",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := e.client().DeleteQueue(cmd.Context(), args[0]); err != nil {
				var ae *client.Error
				if errors.As(err, &ae) && ae.Status == 409 {
					return fmt.Errorf("%s", ae.Message)
				}
				return err
			}
			if e.structured() {
				return e.print(map[string]any{"deleted": args[0]})
			}
			fmt.Fprintf(e.stdout, "queue %s deleted\n", args[0])
			return nil
		},
	}
}
