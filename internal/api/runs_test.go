package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"docket.dev/docket/internal/store"
)

// TestLogsLetGoOfStalledReader follows a running run's log without reading it: once a
// chunk waits longer than logWriteTimeout the server ends the answer, rather than holding
// it for as long as the run goes on.
func TestLogsLetGoOfStalledReader(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.api.logWriteTimeout = 200 * time.Millisecond
	run := f.startedRun(t, "")
	line := strings.Repeat("x", 1023) + "\n"
	for range 8 {
		if err := f.store.LogAppend(context.Background(), run.ID, []byte(strings.Repeat(line, 1024))); err != nil {
			t.Fatal(err)
		}
	}
	// A small receive buffer, so the 8 MiB log cannot all wait in the kernel.
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /api/v1/runs/"+run.ID+"/logs?follow=true HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	time.Sleep(time.Second) // the reader stalls, past the write timeout
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("after %d bytes the server still held the answer of a reader that stalled", n)
	}
	if n >= 8<<20 {
		t.Errorf("the whole log (%d bytes) came to a reader that stalled, and the answer ended", n)
	}
}

// TestSubmitEnvTotal refuses a run whose env, added to its definition's command and env,
// is more than a program can be given: each part passes on its own, the run could not start.
func TestSubmitEnvTotal(t *testing.T) {
	t.Parallel()
	f := setup(t)
	big := strings.Repeat("x", 100<<10)
	var def strings.Builder
	def.WriteString(strings.Replace(goodJob, "env: {MODE: full}\n", "env:\n", 1))
	for i := range 8 {
		fmt.Fprintf(&def, "  DEF_%d: %s\n", i, big)
	}
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", def.String()); status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", status, body)
	}
	env := map[string]string{}
	for i := range 3 {
		env[fmt.Sprintf("RUN_%d", i)] = big
	}
	body, _ := json.Marshal(map[string]any{"env": env})
	status, answer := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", string(body))
	if status != http.StatusBadRequest || !strings.Contains(string(answer), `"field":"env"`) || !strings.Contains(string(answer), "together") {
		t.Errorf("submit with %d KiB more env: %d %.300s; want 400 naming env", 3*100, status, answer)
	}
	if runs, _, _ := f.store.RunList(context.Background(), store.RunFilter{}); len(runs) != 0 {
		t.Errorf("%d runs stored, want none", len(runs))
	}
	small, _ := json.Marshal(map[string]any{"env": map[string]string{"RUN_0": "1"}})
	if status, answer := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", string(small)); status != http.StatusCreated {
		t.Errorf("a small env: %d %.300s; want 201", status, answer)
	}
}
