package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
