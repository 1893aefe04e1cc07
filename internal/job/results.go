package job

import "encoding/json"

// TaskResult is one task of an array as GET /runs/{id}/results and docket results show
// it: its index and input, how its newest attempt stands, and what that attempt reported.
type TaskResult struct {
	Index    int             `json:"index"`
	Input    string          `json:"input"`
	State    State           `json:"state"`
	ExitCode *int            `json:"exit_code"`
	Result   json.RawMessage `json:"result"`
	Files    []File          `json:"files"`
	RunID    string          `json:"run_id"`
	Attempt  int             `json:"attempt"`
	Message  string          `json:"message,omitempty"`
}

// Results is a page of an array's tasks, in index order, with its progress.
type Results struct {
	RunID string `json:"run_id"`
	State State  `json:"state"`
	// Progress counts the array's tasks: ended ones by how, and the others by where they
	// are now.
	Progress Progress     `json:"progress"`
	Results  []TaskResult `json:"results"`
	// NextAfter, when set, is the after of the next page.
	NextAfter *int `json:"next_after,omitempty"`
}

// Progress is how far an array has got: Size tasks, of which Succeeded and Failed ended
// so (for good), Running are dispatched or running and Queued wait for a slot.
type Progress struct {
	Size      int `json:"size"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Ended     int `json:"ended"`
	Running   int `json:"running"`
	Queued    int `json:"queued"`
}
