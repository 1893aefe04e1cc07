package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/retention"
	"docket.dev/docket/internal/store"
)

// blobChunk is how much of an upload is read, hashed and stored at a time: a blob is
// never held whole.
const blobChunk = 1 << 20

// DefaultMaxInputs caps a file and all the input files of one run, unless the server is
// told otherwise.
const DefaultMaxInputs = 256 << 20

// DefaultMaxHeld caps what one token may hold of files no run names yet (uploads in
// progress, files sent for runs not yet submitted), unless the server is told otherwise:
// room for an array's inputs, not for a disk filled by one token in a day.
const DefaultMaxHeld = 16 << 30

// blobBusyRetry is when a sender of a blob another client is sending is told to ask again
// (Retry-After).
const blobBusyRetry = 2 * time.Second

// sha256Name is a blob's name: its SHA-256 in lowercase hex.
var sha256Name = regexp.MustCompile(`^[0-9a-f]{64}$`)

// blobName reads and checks the {sha256} of a blob route.
func blobName(r *http.Request) (string, error) {
	sha := r.PathValue("sha256")
	if !sha256Name.MatchString(sha) {
		return "", invalid("sha256", "is not a SHA-256: 64 lowercase hex digits")
	}
	return sha, nil
}

// headBlob says how a blob stands in headers: 404 when unknown, else its size, how many
// bytes were received (an upload resumes there) and whether it is complete.
func (a *API) headBlob(w http.ResponseWriter, r *http.Request) {
	sha, err := blobName(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	b, err := a.opts.Store.BlobStat(r.Context(), sha)
	if err != nil {
		if errors.Is(err, job.ErrNotFound) {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		writeError(w, r, a.opts.Logger, err)
		return
	}
	setBlobHeaders(w, b)
	w.WriteHeader(http.StatusOK)
}

func setBlobHeaders(w http.ResponseWriter, b store.Blob) {
	w.Header().Set("Docket-Blob-Size", strconv.FormatInt(b.Size, 10))
	w.Header().Set("Docket-Blob-Received", strconv.FormatInt(b.Received, 10))
	w.Header().Set("Docket-Blob-Complete", strconv.FormatBool(b.Complete))
}

// putBlob receives a blob's bytes from ?offset= (0 unless resuming) of a blob of ?size=,
// a chunk at a time. Once all have arrived they are checked against the name: a
// mismatch is refused and what arrived dropped. A blob the server has is not received
// again (200 at once).
func (a *API) putBlob(w http.ResponseWriter, r *http.Request) {
	sha, err := blobName(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	size, offset, err := uploadRange(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	b, ok := a.receiveBlob(w, r, sha, size, offset)
	if ok {
		setBlobHeaders(w, b)
		writeJSON(w, r, http.StatusOK, b)
	}
}

// receiveBlob stores the request's body as a blob's bytes from offset, checking the
// whole against its name once all have arrived. It answers the request itself when it
// fails (ok false).
func (a *API) receiveBlob(w http.ResponseWriter, r *http.Request, sha string, size, offset int64) (b store.Blob, ok bool) {
	ctx := r.Context()
	if limit := a.maxInputFile(); size > limit {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusRequestEntityTooLarge, code: "too_large", field: "size",
			msg: fmt.Sprintf("blob %s is %d bytes; a file may be at most %d bytes on this server (--max-input-file)", sha, size, limit)})
		return b, false
	}
	// An upload in progress is its sender's (the token's name) until it has been still
	// for store.BlobIdle: no one else resets it, appends to it or drops it.
	up := store.Upload{SHA256: sha, Owner: actor(ctx), MaxHeld: a.maxHeld()}
	var err error
	b, err = a.opts.Store.BlobBegin(ctx, up, size, a.now().UTC())
	switch {
	case errors.Is(err, store.ErrBlobBusy):
		setBlobHeaders(w, b)
		w.Header().Set("Retry-After", strconv.Itoa(int(blobBusyRetry.Seconds())))
		err = &statusError{status: http.StatusConflict, code: "busy", field: "sha256",
			msg: fmt.Sprintf("another client is sending blob %s (%d of %d bytes so far); ask again once it is complete, or after %v with none arriving", sha, b.Received, b.Size, store.BlobIdle)}
	case errors.Is(err, store.ErrBlobHeld):
		who := "the server's one sender (it has no tokens)"
		if up.Owner != "" {
			who = fmt.Sprintf("token %q", up.Owner)
		}
		err = &statusError{status: http.StatusRequestEntityTooLarge, code: "quota", field: "size",
			msg: fmt.Sprintf("%s holds %s (--max-held-uploads); submit the runs that name the files sent, or wait: a file no run names is deleted %s after it was sent",
				who, strings.TrimPrefix(err.Error(), store.ErrBlobHeld.Error()+": "), strings.TrimSuffix(retention.BlobGrace.String(), "0m0s"))}
	}
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return b, false
	}
	if b.Complete {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, blobChunk))
		return b, true
	}
	if offset != b.Received {
		setBlobHeaders(w, b)
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusConflict, code: "offset", field: "offset",
			msg: fmt.Sprintf("blob %s has received %d bytes; send the rest from offset %d", sha, b.Received, b.Received)})
		return b, false
	}
	h := sha256.New()
	if err := a.hashStored(ctx, sha, b.Received, h); err != nil {
		writeError(w, r, a.opts.Logger, err)
		return b, false
	}
	body := http.MaxBytesReader(w, r.Body, size-offset)
	buf := make([]byte, blobChunk)
	for b.Received < size {
		n, rerr := io.ReadFull(body, buf[:min(int64(len(buf)), size-b.Received)])
		if n > 0 {
			h.Write(buf[:n])
			if b.Received, err = a.opts.Store.BlobAppend(ctx, up, b.Received, buf[:n], a.now().UTC()); err != nil {
				// Another upload of the same file by the same sender moved it on (two runs
				// keeping one output at once on a server without tokens, say), or another
				// sender began it again after it was still. A whole blob of it is this
				// one; else the sender asks again from what the server has
				// (Docket-Blob-Received).
				if cur, serr := a.opts.Store.BlobStat(ctx, sha); errors.Is(err, job.ErrConflict) && serr == nil {
					if cur.Complete && cur.Size == size {
						_, _ = io.Copy(io.Discard, io.LimitReader(body, blobChunk))
						return cur, true
					}
					setBlobHeaders(w, cur)
				}
				writeError(w, r, a.opts.Logger, err)
				return b, false
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break // the rest comes in another request, from b.Received
			}
			writeError(w, r, a.opts.Logger, rerr)
			return b, false
		}
	}
	if b.Received == size {
		if got := hex.EncodeToString(h.Sum(nil)); got != sha {
			if err := a.opts.Store.BlobDiscard(ctx, up); err != nil {
				writeError(w, r, a.opts.Logger, err)
				return b, false
			}
			writeError(w, r, a.opts.Logger, invalid("sha256", fmt.Sprintf("the %d bytes sent have the SHA-256 %s, not %s; they were dropped", size, got, sha)))
			return b, false
		}
		if err := a.opts.Store.BlobSeal(ctx, sha); err != nil {
			writeError(w, r, a.opts.Logger, err)
			return b, false
		}
		b.Complete = true
	}
	return b, true
}

// hashStored feeds the first n stored bytes of a blob to h, chunk by chunk (a resumed
// upload is checked whole).
func (a *API) hashStored(ctx context.Context, sha string, n int64, h hash.Hash) error {
	for off := int64(0); off < n; {
		chunk, err := a.opts.Store.BlobRead(ctx, sha, off)
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			return fmt.Errorf("blob %s: chunk at %d of %d missing", sha, off, n)
		}
		h.Write(chunk)
		off += int64(len(chunk))
	}
	return nil
}

// getBlob streams a complete blob.
func (a *API) getBlob(w http.ResponseWriter, r *http.Request) {
	sha, err := blobName(r)
	if err != nil {
		writeError(w, r, a.opts.Logger, err)
		return
	}
	a.serveBlob(w, r, sha)
}

// serveBlob writes a complete blob's bytes, chunk by chunk.
func (a *API) serveBlob(w http.ResponseWriter, r *http.Request, sha string) {
	ctx := r.Context()
	b, err := a.opts.Store.BlobStat(ctx, sha)
	if err == nil && !b.Complete {
		err = job.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, job.ErrNotFound) {
			err = &statusError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("blob %s is not on this server", sha)}
		}
		writeError(w, r, a.opts.Logger, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(b.Size, 10))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	for off := int64(0); off < b.Size; {
		chunk, err := a.opts.Store.BlobRead(ctx, sha, off)
		if err != nil || len(chunk) == 0 {
			if ctx.Err() == nil {
				a.opts.Logger.Error("read blob", "sha256", sha, "offset", off, "err", err)
			}
			return
		}
		if _, err := w.Write(chunk); err != nil {
			return
		}
		off += int64(len(chunk))
	}
}

// uploadRange reads an upload's ?size= (the whole file's) and ?offset= (where the body
// starts in it).
func uploadRange(r *http.Request) (size, offset int64, err error) {
	if size, err = queryInt(r, "size", 0); err != nil {
		return 0, 0, err
	}
	offset, err = queryInt(r, "offset", 0)
	return size, offset, err
}

// queryInt reads a whole number of 0 or more from the query, def when absent.
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, invalid(name, fmt.Sprintf("%q is not a whole number of bytes (0 or more)", s))
	}
	return n, nil
}

func (a *API) maxInputFile() int64 {
	if a.opts.MaxInputFile > 0 {
		return a.opts.MaxInputFile
	}
	return DefaultMaxInputs
}

func (a *API) maxHeld() int64 {
	if a.opts.MaxHeld > 0 {
		return a.opts.MaxHeld
	}
	return DefaultMaxHeld
}

func (a *API) maxInputRun() int64 {
	if a.opts.MaxInputRun > 0 {
		return a.opts.MaxInputRun
	}
	return DefaultMaxInputs
}
