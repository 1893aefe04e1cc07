package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"docket.dev/docket/internal/job"
)

// TestBlobReceivedRefused: a HEAD refused has no body to say why; the error says what the
// status means for sending files.
func TestBlobReceivedRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	defer srv.Close()
	_, _, err := New(srv.URL).BlobReceived(context.Background(), "ab")
	if err == nil || !strings.HasPrefix(err.Error(), "this token may not send files (sending takes an editor's or admin's token); HEAD blob ab: 403") {
		t.Errorf("BlobReceived refused: %v", err)
	}
}

// TestUploadWaitsWhileBusy: while another client sends the same content (409 busy), an
// upload waits, says so once, asks again, and sends nothing once the server has it all.
func TestUploadWaitsWhileBusy(t *testing.T) {
	t.Parallel()
	var puts, heads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodHead:
			w.Header().Set("Docket-Blob-Received", "3")
			w.Header().Set("Docket-Blob-Complete", strconv.FormatBool(heads.Add(1) > 1))
		case http.MethodPut:
			puts.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":{"code":"busy","message":"another client is sending blob ab"}}`)
		}
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "data.csv")
	if err := os.WriteFile(path, []byte("a,b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := New(srv.URL)
	var told []string
	c.Waiting = func(msg string) { told = append(told, msg) }
	sent, err := c.UploadFile(context.Background(), path, job.File{Path: "data.csv", SHA256: "ab", Size: 4})
	if err != nil || sent != 0 {
		t.Errorf("upload while another sends it, then complete: sent %d, %v; want nothing sent, no error", sent, err)
	}
	if puts.Load() != 1 || heads.Load() != 2 {
		t.Errorf("%d PUTs and %d HEADs; want one of each before the wait, one HEAD after", puts.Load(), heads.Load())
	}
	if len(told) != 1 || !strings.Contains(told[0], "another client is sending the same content as "+path) {
		t.Errorf("told %q; want one line about the wait", told)
	}
}
