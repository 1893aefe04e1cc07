package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"

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
	return 0, false, &Error{Status: resp.StatusCode, Code: "http", Message: "HEAD blob " + sha + ": " + resp.Status}
}

// UploadFile sends the file at path as the blob f names, from what the server has of it
// already (nothing is sent when it has all of it). It returns the bytes sent.
func (c *Client) UploadFile(ctx context.Context, path string, f job.File) (int64, error) {
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
