package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
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
