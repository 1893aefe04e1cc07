package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// runTable writes runs as the rows of docket runs: the usual columns and, wide, each
// run's duration, exit code and Kubernetes node.
type runTable struct {
	c    *client.Client
	wide bool
	now  func() time.Time
	// nodes caches what the runs' events said of their node; a settled entry (a node
	// found, or a finished run) is not asked again.
	nodes map[string]runNode
	// children holds the children of the active group runs shown, for their summary.
	children map[string][]job.Run
	// pace keeps the events read for nodes well under the server's default rate limit
	// for a token (50 requests a second), so a long wide listing is slow, not refused.
	pace *rate.Limiter
}

type runNode struct {
	name    string
	settled bool
}

func newRunTable(e *env, c *client.Client) *runTable {
	return &runTable{c: c, wide: e.wide(), now: time.Now, nodes: map[string]runNode{}, children: map[string][]job.Run{}, pace: rate.NewLimiter(25, 25)}
}

// header is the table's first line.
func (t *runTable) header() string {
	h := "ID\tJOB\tSTATE\tTRIGGER\tATTEMPT\tSCHEDULED\tCREATED\tREASON"
	if t.wide {
		h += "\tDURATION\tEXIT\tNODE"
	}
	return h + "\n"
}

// row is one run's line; with wide, its node must have been looked up (lookupNodes).
func (t *runTable) row(r job.Run) string {
	sched := "-"
	if r.ScheduledTime != nil {
		sched = r.ScheduledTime.Local().Format("2006-01-02 15:04:05")
	}
	s := fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s", r.ID, jobText(r), r.State, r.Trigger, r.Attempt, sched,
		r.CreatedAt.Local().Format("2006-01-02 15:04:05"), reasonText(r, t.children[r.ID]))
	if t.wide {
		s += fmt.Sprintf("\t%s\t%s\t%s", runDuration(r, t.now()), exitText(r), orDash(t.nodes[r.ID].name))
	}
	return s + "\n"
}

// jobText is a run's JOB column: its job, and for a workflow's step or an array's task,
// which one (train/evaluate, shards[3]).
func jobText(r job.Run) string {
	switch {
	case r.Parent == "":
		return r.Job
	case r.Step != "":
		return r.Job + "/" + r.Step
	case r.TaskIndex != nil:
		return fmt.Sprintf("%s[%d]", r.Job, *r.TaskIndex)
	}
	return r.Job
}

// reasonText is a run's reason, and a group run's progress after it.
func reasonText(r job.Run, children []job.Run) string {
	if r.Group == nil {
		return string(r.Reason)
	}
	return fmt.Sprintf("%s (%s)", r.Reason, groupSummary(r, children))
}

// lookupGroups reads the children of the active group runs among runs, for how many run.
func (t *runTable) lookupGroups(ctx context.Context, runs []job.Run) error {
	for _, r := range runs {
		if r.Group == nil || r.State.Terminal() {
			continue
		}
		children, err := t.c.Children(ctx, r.ID)
		if err != nil {
			return err
		}
		t.children[r.ID] = children
	}
	return nil
}

// runDuration is how long a run ran, or has been running.
func runDuration(r job.Run, now time.Time) string {
	switch {
	case r.StartedAt == nil:
		return "-"
	case r.FinishedAt != nil:
		return durationText(r.FinishedAt.Sub(*r.StartedAt))
	case r.State.Terminal():
		return "-"
	}
	return durationText(now.Sub(*r.StartedAt))
}

func exitText(r job.Run) string {
	if r.ExitCode == nil {
		return "-"
	}
	return fmt.Sprint(*r.ExitCode)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// lookupNodes learns, when the table is wide, the node of each run that may have one: the
// Kubernetes node its latest Scheduled event names. A run's node is in its events, not
// in the run, so this reads the events of the runs not settled yet, a few at a time.
func (t *runTable) lookupNodes(ctx context.Context, runs []job.Run) error {
	if !t.wide {
		return nil
	}
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, r := range runs {
		if t.nodes[r.ID].settled || r.State == job.StateQueued || r.State == job.StateDispatched || r.State == job.StateSkipped {
			continue
		}
		g.Go(func() error {
			if err := t.pace.Wait(ctx); err != nil {
				return err
			}
			events, err := t.c.Events(ctx, r.ID)
			var ae *client.Error
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				return nil // deleted meanwhile
			} else if err != nil {
				return err
			}
			n := runNode{name: nodeOf(events)}
			n.settled = n.name != "" || r.State.Terminal()
			mu.Lock()
			t.nodes[r.ID] = n
			mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// onNode finds the node in the Kubernetes executor's messages: "pod P scheduled on node
// N", "pod P running on node N with a 1h deadline".
var onNode = regexp.MustCompile(` on node (\S+)`)

// nodeOf is the node the newest Scheduled (or Started) event names; "" when none does.
func nodeOf(events []job.Event) string {
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		if ev.Reason != "Scheduled" && ev.Reason != "Started" {
			continue
		}
		if m := onNode.FindStringSubmatch(ev.Message); m != nil {
			return m[1]
		}
	}
	return ""
}
