package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"docket.dev/docket/internal/job"
)

// BlobReceived says how much of a blob the server has: -1 when it has none of it,
// its size once complete.
func (c *Client) BlobReceived(ctx context.Context, sha string) (received int64, complete bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, c.base+"/api/v1/blobs/"+url.PathEscape(sha), nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := c.send(req)
	if err != nil {
		return 0, false, fmt.Errorf("cannot reach the docket server at %s: %w", c.base, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return -1, false, nil
	case http.StatusOK:
		n, _ := strconv.ParseInt(resp.Header.Get("Docket-Blob-Received"), 10, 64)
		return n, resp.Header.Get("Docket-Blob-Complete") == "true", nil
	}
	// A HEAD answer has no body to say why: say what the status means here.
	msg := "HEAD blob " + sha + ": " + resp.Status
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		msg = "the server wants a token to send files (DOCKET_TOKEN); " + msg
	case http.StatusForbidden:
		msg = "this token may not send files (sending takes an editor's or admin's token); " + msg
	}
	return 0, false, &Error{Status: resp.StatusCode, Code: "http", Message: msg}
}

// UploadFile sends the file at path as the blob f names, from what the server has of it
// already (nothing is sent when it has all of it). It returns the bytes sent. While
// another client is sending the same content it waits, and sends nothing once that is
// complete.
func (c *Client) UploadFile(ctx context.Context, path string, f job.File) (int64, error) {
	for waited := time.Duration(0); ; waited += busyWait {
		sent, err := c.uploadFile(ctx, path, f)
		if waited >= maxBusyWait || !c.waitBusy(ctx, err, path, waited) {
			return sent, err
		}
	}
}

func (c *Client) uploadFile(ctx context.Context, path string, f job.File) (int64, error) {
	from, complete, err := c.BlobReceived(ctx, f.SHA256)
	if err != nil || complete {
		return 0, err
	}
	from = max(from, 0)
	file, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	if _, err := file.Seek(from, io.SeekStart); err != nil {
		return 0, err
	}
	q := url.Values{"size": {strconv.FormatInt(f.Size, 10)}, "offset": {strconv.FormatInt(from, 10)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+"/api/v1/blobs/"+url.PathEscape(f.SHA256)+"?"+q.Encode(), io.LimitReader(file, f.Size-from))
	if err != nil {
		return 0, err
	}
	req.ContentLength = f.Size - from
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.send(req)
	if err != nil {
		return 0, fmt.Errorf("upload %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return 0, fmt.Errorf("upload %s: %w", path, decodeError(resp))
	}
	return f.Size - from, nil
}

// UploadOutput keeps the file at path with a running run as its output file f (docket
// report --file), sending from where the server's copy of what this run sent ends.
func (c *Client) UploadOutput(ctx context.Context, runID, path string, f job.File) error {
	var from int64
	for resumed, waited := 0, time.Duration(0); ; {
		q := url.Values{"path": {f.Path}, "sha256": {f.SHA256}, "size": {strconv.FormatInt(f.Size, 10)}, "offset": {strconv.FormatInt(from, 10)}}
		status, received, err := c.putFrom(ctx, "/api/v1/runs/"+url.PathEscape(runID)+"/outputs?"+q.Encode(), path, from, f.Size)
		switch {
		case waited < maxBusyWait && c.waitBusy(ctx, err, path, waited):
			// Another run is sending the same content: once it is complete, this run's
			// file is kept without sending it; if that run stops, this one sends it all.
			waited += busyWait
			from = 0
		case status == http.StatusConflict && received >= 0 && resumed < 3:
			resumed++
			from = received // the server has part of what this run sent before: resume there
		default:
			return err
		}
	}
}

// busyWait is how long a sender waits before asking again about a blob another client is
// sending; maxBusyWait how long it waits in all before it gives up, saying so. The server
// lets another sender begin the blob again once its sender has sent nothing for ten
// minutes.
const (
	busyWait    = 2 * time.Second
	maxBusyWait = 15 * time.Minute
)

// waitBusy waits busyWait when err says another client is sending the blob of the file
// at path (409 busy), and reports whether it did, so that the caller asks again. The
// first wait of a file (none waited before) is told to c.Waiting.
func (c *Client) waitBusy(ctx context.Context, err error, path string, waited time.Duration) bool {
	var e *Error
	if !errors.As(err, &e) || e.Code != "busy" {
		return false
	}
	if waited == 0 && c.Waiting != nil {
		c.Waiting(fmt.Sprintf("waiting: another client is sending the same content as %s; this one needs no sending once that is complete (at most %v)", path, maxBusyWait))
	}
	t := time.NewTimer(busyWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// putFrom PUTs the file's bytes from offset; on a 409 it returns what the server says it
// has received.
func (c *Client) putFrom(ctx context.Context, target, path string, from, size int64) (int, int64, error) {
	file, err := os.Open(path)
	if err != nil {
		return 0, -1, err
	}
	defer file.Close()
	if _, err := file.Seek(from, io.SeekStart); err != nil {
		return 0, -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.base+target, io.LimitReader(file, size-from))
	if err != nil {
		return 0, -1, err
	}
	req.ContentLength = size - from
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.send(req)
	if err != nil {
		return 0, -1, fmt.Errorf("upload %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		received := int64(-1)
		if h := resp.Header.Get("Docket-Blob-Received"); h != "" {
			received, _ = strconv.ParseInt(h, 10, 64)
		}
		return resp.StatusCode, received, fmt.Errorf("upload %s: %w", path, decodeError(resp))
	}
	return resp.StatusCode, -1, nil
}

// DownloadBlob writes a blob's content to w.
func (c *Client) DownloadBlob(ctx context.Context, sha string, w io.Writer) (int64, error) {
	return c.download(ctx, "/api/v1/blobs/"+url.PathEscape(sha), w)
}

// download writes the body of a GET of path to w.
func (c *Client) download(ctx context.Context, path string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.send(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the docket server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return 0, decodeError(resp)
	}
	return io.Copy(w, resp.Body)
}

// RunFiles returns a run's input and output files.
func (c *Client) RunFiles(ctx context.Context, runID string) (inputs, outputs []job.File, err error) {
	var out struct {
		Inputs  []job.File `json:"inputs"`
		Outputs []job.File `json:"outputs"`
	}
	_, err = c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(runID)+"/files", nil, nil, &out)
	return out.Inputs, out.Outputs, err
}

// RunInput writes one of a run's input files to w (the run's own token may read it).
func (c *Client) RunInput(ctx context.Context, runID, sha string, w io.Writer) (int64, error) {
	return c.download(ctx, "/api/v1/runs/"+url.PathEscape(runID)+"/inputs/"+url.PathEscape(sha), w)
}
