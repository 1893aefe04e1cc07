package group

import (
	"strconv"
	"strings"

	"docket.dev/docket/internal/job"
)

// ReleaseWaiter decides what becomes of a run that waits for other runs (WaitsFor:
// dependencies between separate submissions), given the newest attempt of each by the
// id waited for; a run that is not there any more counts as one that did not succeed.
// The waiter is queued once they all succeeded and skipped, naming the first that did
// not, once one ended otherwise; while one has not ended it waits on (false).
func ReleaseWaiter(w job.Run, newest map[string]job.Run) (Change, bool) {
	if w.State != job.StateWaiting {
		return Change{}, false
	}
	ended, blocker := weigh(w.WaitsFor, newest, "run ", true)
	switch {
	case blocker != "":
		return Change{RunID: w.ID, From: job.StateWaiting, To: job.StateSkipped, Reason: job.ReasonUpstreamFailed,
			Message: "not run: a run it depends on did not succeed: " + blocker}, true
	case ended:
		msg := "queued: the runs it depends on succeeded (" + strings.Join(w.WaitsFor, ", ") + ")"
		if len(w.WaitsFor) > 3 {
			msg = "queued: the " + strconv.Itoa(len(w.WaitsFor)) + " runs it depends on succeeded"
		}
		return Change{RunID: w.ID, From: job.StateWaiting, To: job.StateQueued, Reason: job.ReasonReady, Message: msg}, true
	}
	return Change{}, false
}
