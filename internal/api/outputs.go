package api

import (
	"fmt"
	"net/http"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// MaxOutputFiles caps how many output files one run may report.
const MaxOutputFiles = 100

// putOutput keeps a file a running run reports (docket report --file) with the run:
// ?path= names it, ?sha256= and ?size= its content, which the body carries (from
// ?offset= when resuming). The run's own token may send it.
func (a *API) putOutput(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	q := r.URL.Query()
	p, sha := q.Get("path"), q.Get("sha256")
	if err := CheckPath(p); err != nil {
		writeError(w, r, a.opts.Logger, invalid("path", err.Error()))
		return
	}
	if !sha256Name.MatchString(sha) {
		writeError(w, r, a.opts.Logger, invalid("sha256", "is not a SHA-256: 64 lowercase hex digits"))
		return
	}
	size, offset, err := uploadRange(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if err := a.mayChangeRun(ctx, id); err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	run, err := a.opts.Store.RunGet(ctx, id)
	if err != nil {
		writeError(w, r, a.opts.Logger, runErr(id, err))
		return
	}
	if !run.State.Active() {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusConflict, code: "conflict",
			msg: fmt.Sprintf("run %s is %s; only an active run reports files", id, run.State)})
		return
	}
	have, err := a.opts.Store.RunFiles(ctx, id, store.FileOutput)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	if len(have) >= MaxOutputFiles {
		writeError(w, r, a.opts.Logger, invalid("path", fmt.Sprintf("run %s reported %d files already; a run keeps at most %d", id, len(have), MaxOutputFiles)))
		return
	}
	b, ok := a.receiveBlob(w, r, sha, size, offset)
	if !ok {
		return
	}
	if b.Complete {
		f := job.File{Path: p, SHA256: sha, Size: size, Mode: 0o644}
		if err := a.opts.Store.RunFilesPut(ctx, store.FileOutput, map[string][]job.File{id: {f}}, a.now().UTC()); err != nil {
			writeError(w, r, a.opts.Logger, err)
			return
		}
	}
	setBlobHeaders(w, b)
	writeJSON(w, r, http.StatusOK, b)
}
