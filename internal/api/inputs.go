package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// maxPathBytes caps the path of a run's file.
const maxPathBytes = 1024

// CheckPath refuses a file path that could land outside a run's working directory, or
// that no file system takes: absolute, with .. or empty parts, with a NUL or a
// backslash, inside .git.
func CheckPath(p string) error {
	switch {
	case p == "" || len(p) > maxPathBytes:
		return fmt.Errorf("%q: a path is 1 to %d bytes", p, maxPathBytes)
	case !utf8.ValidString(p) || strings.ContainsAny(p, "\x00\\"):
		return fmt.Errorf("%q: a path is UTF-8 without NUL bytes or backslashes", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("%q is absolute; paths are relative to the run's working directory", p)
	case path.Clean(p) != p:
		return fmt.Errorf("%q is not clean (no .., . or empty parts)", p)
	case p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%q escapes the run's working directory", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".git" {
			return fmt.Errorf("%q is inside .git; a repository's history is not sent", p)
		}
	}
	return nil
}

// checkFiles checks the files a submission names: safe paths, named once, blobs the
// server has in full at the size given, together within the run's limit (413 naming the
// file that goes past it). A dry run's files need not be uploaded yet: the client sends
// them only for a run it submits. With each, every file goes to a task of its own: each
// is held to the limit beside what total holds (the files all tasks get), not with the
// others.
func (a *API) checkFiles(ctx context.Context, field string, files []job.File, seen map[string]bool, total *int64, dry, each bool) error {
	base := *total
	for i, f := range files {
		name := fmt.Sprintf("%s[%d]", field, i)
		if err := CheckPath(f.Path); err != nil {
			return invalid(name+".path", err.Error())
		}
		if seen[f.Path] {
			return invalid(name+".path", fmt.Sprintf("%q is named twice", f.Path))
		}
		seen[f.Path] = true
		if !sha256Name.MatchString(f.SHA256) {
			return invalid(name+".sha256", "is not a SHA-256: 64 lowercase hex digits")
		}
		if f.Size < 0 {
			return invalid(name+".size", fmt.Sprintf("%d is negative", f.Size))
		}
		if f.Mode&^0o777 != 0 {
			return invalid(name+".mode", fmt.Sprintf("%o holds more than permission bits", f.Mode))
		}
		b, err := a.opts.Store.BlobStat(ctx, f.SHA256)
		switch {
		case dry && (errors.Is(err, job.ErrNotFound) || err == nil && !b.Complete):
		case errors.Is(err, job.ErrNotFound) || err == nil && !b.Complete:
			return invalid(name+".sha256", fmt.Sprintf("%s (%s) is not uploaded; PUT /api/v1/blobs/%s first", f.SHA256, f.Path, f.SHA256))
		case err != nil:
			return err
		case b.Size != f.Size:
			return invalid(name+".size", fmt.Sprintf("%s is %d bytes, not %d", f.Path, b.Size, f.Size))
		}
		sum := base + f.Size
		if !each {
			*total += f.Size
			sum = *total
		}
		if limit := a.maxInputRun(); sum > limit {
			return &statusError{status: http.StatusRequestEntityTooLarge, code: "too_large", field: name,
				msg: fmt.Sprintf("%s: %s takes the run's input files to %d bytes; a run may have at most %d (--max-run-inputs)", name, f.Path, sum, limit)}
		}
	}
	return nil
}

// RunFiles is what GET /runs/{id}/files answers: a run's input files (its own and, for a
// task, its array's) and its output files.
type RunFiles struct {
	Inputs  []job.File `json:"inputs"`
	Outputs []job.File `json:"outputs"`
}

func (a *API) getRunFiles(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	inputs, err := a.runInputs(r, id)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	outputs, err := a.opts.Store.RunFiles(r.Context(), id, store.FileOutput)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if outputs == nil {
		outputs = []job.File{}
	}
	writeJSON(w, r, http.StatusOK, RunFiles{Inputs: inputs, Outputs: outputs})
}

// runInputs returns a run's input files: its own and, for a task, its array's.
func (a *API) runInputs(r *http.Request, id string) ([]job.File, error) {
	run, err := a.opts.Store.RunGet(r.Context(), id)
	if err != nil {
		return nil, runErr(id, err)
	}
	return store.InputsOf(r.Context(), a.opts.Store, run)
}

// getRunInput streams one of a run's input files, by its blob's name: what docket inputs
// fetch reads with the run's own token, which reaches only that run's files.
func (a *API) getRunInput(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	sha, err := blobName(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	inputs, err := a.runInputs(r, id)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	for _, f := range inputs {
		if f.SHA256 == sha {
			a.serveBlob(w, r, sha)
			return
		}
	}
	writeError(w, r, a.opts.Logger, &statusError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("run %s has no input file %s", id, sha)})
}
