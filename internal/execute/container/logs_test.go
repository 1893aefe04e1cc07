package container

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/job"
)

// TestLogStreamEndsEarly: an engine that ends a followed log stream before it has
// delivered all of a container's output (Podman does, under load) loses none of it: the
// rest is read from the engine's stored log. A proxy in front of the engine cuts each
// followed stream after its first 4 KiB.
func TestLogStreamEndsEarly(t *testing.T) {
	t.Parallel()
	checkLines(t, runLines(t, func(body io.Reader) io.Reader { return io.LimitReader(body, 4<<10) }), 2000)
}

// TestLogStreamLosesLines: an engine whose followed log stream drops output from its
// middle (Podman's does, under load) loses none of it either: the log says so and then
// holds the whole output as the engine stored it. A proxy drops ten frames of each
// followed stream.
func TestLogStreamLosesLines(t *testing.T) {
	t.Parallel()
	log := runLines(t, func(body io.Reader) io.Reader { return &frameDropper{r: body, from: 100, to: 110} })
	if !strings.Contains(log, lostNote) {
		t.Errorf("the log does not say the stream lost output (%q)", lostNote)
	}
	checkLines(t, log, 2000)
}

// lostNote is what a log says when the live stream lost output.
const lostNote = "[docket: the container engine's live log stream lost part of the output"

// runLines runs testjob's lines 2000 in a container through a proxy that passes the body of
// each followed log stream through cut, and returns the run's log.
func runLines(t *testing.T, cut func(io.Reader) io.Reader) string {
	engine := enginetest.Engine(t)
	image := enginetest.JobImage(t, engine)
	host, err := client.ParseHostURL(engine.DaemonHost())
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: "http", Host: "engine"}) },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, host.Scheme, host.Host+host.Path)
		}},
		ModifyResponse: func(resp *http.Response) error {
			q := resp.Request.URL.Query()
			if strings.HasSuffix(resp.Request.URL.Path, "/logs") && (q.Get("follow") == "1" || q.Get("follow") == "true") {
				resp.Body = struct {
					io.Reader
					io.Closer
				}{cut(resp.Body), resp.Body}
			}
			return nil
		},
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	proxied, err := client.New(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer proxied.Close()

	rec := executetest.New()
	e := New(Options{Engine: proxied, Reporter: rec, Logs: rec, Network: "none", LogSettle: time.Minute})
	x := execution(job.NewRunID(time.Now()), time.Minute, "testjob", "lines", "2000")
	x.Image = image
	if err := e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if u := rec.Finish(t, time.Minute); u.State != job.StateSucceeded {
		t.Fatalf("run %s %s: %s", u.State, u.Reason, u.Message)
	}
	return rec.Log(x.Run.ID)
}

// checkLines checks a log of testjob's lines n, odd lines on stdout and even ones on
// stderr: it holds every line once, each stream in its order. When the log says the live
// stream lost output, what comes after that holds every line once, and what comes before
// holds none twice, each stream in its order, and lacks a line before the last of its
// stream: the note is there when, and only when, the live stream lost lines from its
// middle (one cut short lost none, and the rest is read without a note).
func checkLines(t *testing.T, log string, n int) {
	t.Helper()
	if before, after, found := strings.Cut(log, lostNote); found {
		t.Logf("the live stream lost output; %d lines came before the note", strings.Count(before, "\n"))
		_, after, _ = strings.Cut(after, "\n")
		if !checkOrder(t, before, 0) {
			t.Errorf("the log says the live stream lost output, but no line is missing before the note")
		}
		log = after
	}
	checkOrder(t, log, n)
}

// checkOrder checks that log's lines are testjob's lines, each stream's in its order, none
// twice; and, unless n is 0, that there are n of them with none missing. It returns whether
// a line is missing before the last of its stream. With n 0 (what the live stream brought
// before it was found to have lost output) a line may end in a later line of its stream.
func checkOrder(t *testing.T, log string, n int) (gap bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	last := [2]int{0, -1}
	for _, l := range lines {
		if k := strings.LastIndex(l, "line "); n == 0 && k > 0 {
			// Where the live stream lost bytes from the middle of a line, that line's start
			// and a later line of its stream meet: the later one is the line, after a gap.
			l, gap = l[k:], true
		}
		var i int
		if _, err := fmt.Sscanf(l, "line %d", &i); err != nil || i <= last[i%2] || (n > 0 && i != last[i%2]+2) {
			t.Fatalf("log line %q out of order, missing or repeated (the last lines of each stream were %d and %d)", l, last[1], last[0])
		}
		gap = gap || i != last[i%2]+2
		last[i%2] = i
	}
	if n > 0 && len(lines) != n {
		t.Errorf("log has %d lines; want %d", len(lines), n)
	}
	return gap
}

// frameDropper passes on a multiplexed log stream without its frames from to to-1,
// counted from 0.
type frameDropper struct {
	r        io.Reader
	from, to int
	frames   int
	pending  []byte
}

func (d *frameDropper) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		var header [8]byte
		if _, err := io.ReadFull(d.r, header[:]); err != nil {
			return 0, err
		}
		frame := make([]byte, 8+binary.BigEndian.Uint32(header[4:]))
		copy(frame, header[:])
		if _, err := io.ReadFull(d.r, frame[8:]); err != nil {
			return 0, err
		}
		if d.frames < d.from || d.frames >= d.to {
			d.pending = frame
		}
		d.frames++
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}
