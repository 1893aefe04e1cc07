package api

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"unicode/utf8"

	"docket.dev/docket/internal/job"
)

// Preview is what a run would be, made without storing or starting it: the execution the
// dispatcher would hand its executor and, on the Kubernetes executor, the Job it would
// create.
type Preview struct {
	Image    string            `json:"image"`
	Command  []string          `json:"command"`
	Env      map[string]string `json:"env"`
	CPU      string            `json:"cpu"`
	Memory   string            `json:"memory"`
	Deadline job.Duration      `json:"deadline"`
	// Manifest is the batch/v1 Job, on the Kubernetes executor.
	Manifest any `json:"manifest,omitempty"`
}

// Previewer resolves a run that is not stored into what it would run (the server's
// dispatcher and executor).
type Previewer interface {
	// group is the run's workflow or array run, for one of its children; else nil. inputs
	// are the files placed for the run.
	Preview(ctx context.Context, def job.Definition, run job.Run, group *job.Run, inputs []job.File) (Preview, error)
}

// dryRun reads the ?dry_run= flag.
func dryRun(r *http.Request) (bool, error) {
	s := r.URL.Query().Get("dry_run")
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, invalid("dry_run", fmt.Sprintf("%q is not true or false", s))
	}
	return b, nil
}

// runPreview is the answer to a dry-run submission.
type runPreview struct {
	DryRun bool    `json:"dry_run"`
	Run    job.Run `json:"run"`
	// Task is, for a workflow or an array, the child whose execution is shown: an
	// array's task 0, a workflow's first step that needs none.
	Task *job.Run `json:"task,omitempty"`
	Preview
}

// previewRun answers a dry-run submission: the run as it would be stored (queue,
// priority, params, and a group's size) and what it, or the first of its children,
// would run; nothing is stored.
func (a *API) previewRun(w http.ResponseWriter, r *http.Request, def job.Definition, run job.Run, children []job.Run, inputs []job.File) {
	out := runPreview{DryRun: true, Run: run}
	shown, group := run, (*job.Run)(nil)
	if len(children) > 0 {
		group = &run
		shown = children[0]
		for _, c := range children {
			if len(c.Needs) == 0 {
				shown = c
				break
			}
		}
		out.Task = &shown
	}
	if a.opts.Previewer != nil {
		p, err := a.opts.Previewer.Preview(r.Context(), def, shown, group, inputs)
		if err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
		out.Preview = p
	}
	writeJSON(w, r, http.StatusOK, out)
}

// maxDiffValue caps how much of a field's value a dry run's diff shows.
const maxDiffValue = 120

// specDiff lists the fields that differ between two specs, as "field: old -> new", in
// the order of the fields' names.
func specDiff(old, new job.Spec) ([]string, error) {
	a, err := fields(old)
	if err != nil {
		return nil, err
	}
	b, err := fields(new)
	if err != nil {
		return nil, err
	}
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var diff []string
	for _, k := range keys {
		if string(a[k]) != string(b[k]) {
			was, now := around(a[k], b[k])
			diff = append(diff, fmt.Sprintf("%s: %s -> %s", k, was, now))
		}
	}
	return diff, nil
}

// fields is a spec's fields as JSON values by name.
func fields(s job.Spec) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(b, &m)
}

// short is a JSON value as a diff shows it: (none) when absent, cut when long.
// around shows two values of a field at most maxDiffValue bytes each: from a little
// before where they first differ, so that a long value shows what changed in it.
func around(a, b json.RawMessage) (string, string) {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	start := 0
	if len(a) > maxDiffValue || len(b) > maxDiffValue {
		start = max(0, i-maxDiffValue/4)
	}
	return window(a, start), window(b, start)
}

// window is v from start, at most maxDiffValue bytes of it, each cut marked "…".
func window(v json.RawMessage, start int) string {
	if v == nil {
		return "(none)"
	}
	s := string(v)
	for start > 0 && start < len(s) && !utf8.RuneStart(s[start]) {
		start--
	}
	out := job.Truncate(s[min(start, len(s)):], maxDiffValue)
	if start > 0 {
		out = "…" + out
	}
	return out
}
