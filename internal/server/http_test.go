package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/api"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

func TestPublicHosts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		hosts      []string
		apiURL     string
		tokensFile string
		want       []string
	}{
		{nil, "", "", nil},
		{[]string{"docket.example.com"}, "", "", []string{"docket.example.com"}},
		{nil, "http://host.containers.internal:8080", "", []string{"host.containers.internal"}},
		{[]string{"a.example"}, "http://docket.docket.svc:8080/", "", []string{"a.example", "docket.docket.svc"}},
		// With tokens, names are checked only when some are given.
		{nil, "http://docket.docket.svc:8080", "/etc/docket/tokens.yaml", nil},
		{[]string{"docket.example.com"}, "http://docket.docket.svc:8080", "/etc/docket/tokens.yaml", []string{"docket.example.com", "docket.docket.svc"}},
	} {
		got := publicHosts(Config{PublicHosts: tt.hosts, APIURL: tt.apiURL, TokensFile: tt.tokensFile})
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("publicHosts(%v, %q) (-want +got):\n%s", tt.hosts, tt.apiURL, diff)
		}
	}
}

// testLimits are short limits, so the tests see them act.
var testLimits = httpLimits{ReadHeader: 300 * time.Millisecond, Read: 500 * time.Millisecond, Idle: 300 * time.Millisecond, MaxHeaderBytes: 8 << 10}

// noCancel cancels nothing: these tests send no cancels.
type noCancel struct{}

func (noCancel) Cancel(context.Context, string, string) (job.Run, error) {
	return job.Run{}, job.ErrNotFound
}

// serveAPI serves the API on a SQLite store within limits, on a loopback port.
func serveAPI(t *testing.T, limits httpLimits) (string, store.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	a := api.New(api.Options{Store: st, Canceller: noCancel{}, Logger: log, Limits: definition.DefaultLimits()})
	a.SetReady()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(a, limits)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), st
}

// dial connects to addr; a read waits at most 10s (far past every limit) for the server.
func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return conn, bufio.NewReader(conn)
}

// closed reports whether the server closed the connection (rather than the test's own
// read deadline passing).
func closed(r *bufio.Reader) bool {
	_, err := r.ReadByte()
	return errors.Is(err, io.EOF)
}

// TestHTTPLimits checks that a connection that idles, a body that does not arrive and
// oversized headers do not hold the server.
func TestHTTPLimits(t *testing.T) {
	t.Parallel()
	addr, _ := serveAPI(t, testLimits)

	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		conn, r := dial(t, addr)
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if !closed(r) {
			t.Error("an idle kept-alive connection was not closed")
		}
	})
	t.Run("slow body", func(t *testing.T) {
		t.Parallel()
		conn, r := dial(t, addr)
		io.WriteString(conn, "POST /api/v1/jobs/nightly/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("no answer to a body that stalled: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "did not arrive in time") {
			t.Errorf("a body that stalled: %d %s", resp.StatusCode, body)
		}
		if !closed(r) {
			t.Error("the connection of a body that stalled was not closed")
		}
	})
	t.Run("large headers", func(t *testing.T) {
		t.Parallel()
		conn, r := dial(t, addr)
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "+strings.Repeat("x", 100<<10)+"\r\n\r\n")
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("100 KiB of headers: %d", resp.StatusCode)
		}
	})
}

// TestHTTPFollowOutlivesReadTimeout follows a run's log for longer than the read timeout:
// the stream goes on until the run ends.
func TestHTTPFollowOutlivesReadTimeout(t *testing.T) {
	t.Parallel()
	addr, st := serveAPI(t, testLimits)
	ctx := context.Background()
	now := time.Now().UTC()
	if _, _, err := st.DefinitionPut(ctx, job.Spec{Name: "long", Image: "busybox", CPU: "1", Memory: "1Gi", Timezone: "UTC", Deadline: job.Duration(time.Hour)}, now); err != nil {
		t.Fatal(err)
	}
	run := job.Run{ID: job.NewRunID(now), Job: "long", Revision: 1, State: job.StateRunning, Trigger: job.TriggerAPI, Attempt: 1, NotBefore: now, CreatedAt: now}
	if _, _, err := st.RunCreate(ctx, run, job.Event{RunID: run.ID, Time: now, State: run.State}); err != nil {
		t.Fatal(err)
	}
	if err := st.LogAppend(ctx, run.ID, []byte("first\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/api/v1/runs/" + run.ID + "/logs?follow=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); line != "first\n" || err != nil {
		t.Fatalf("first line %q, %v", line, err)
	}
	// Real time must pass the server's read deadline: it is the connection's.
	time.Sleep(3 * testLimits.Read)
	if err := st.LogAppend(ctx, run.ID, []byte("second\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RunTransition(ctx, job.Transition{RunID: run.ID, From: job.StateRunning, To: job.StateSucceeded, Time: time.Now().UTC(), Reason: "Completed"}); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if string(rest) != "second\n" || err != nil {
		t.Errorf("after the read timeout the follow gave %q, %v; want the rest of the log", rest, err)
	}
}
