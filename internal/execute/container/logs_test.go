package container

import (
	"context"
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
				}{io.LimitReader(resp.Body, 4<<10), resp.Body}
			}
			return nil
		},
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	cut, err := client.New(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()

	rec := executetest.New()
	e := New(Options{Engine: cut, Reporter: rec, Logs: rec, Network: "none", LogSettle: time.Minute})
	x := execution(job.NewRunID(time.Now()), time.Minute, "testjob", "lines", "2000")
	x.Image = image
	if err := e.Start(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	if u := rec.Finish(t, time.Minute); u.State != job.StateSucceeded {
		t.Fatalf("run %s %s: %s", u.State, u.Reason, u.Message)
	}
	lines := strings.Split(strings.TrimSuffix(rec.Log(x.Run.ID), "\n"), "\n")
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Fatalf("log line %q is there twice", l)
		}
		seen[l] = true
	}
	for i := 1; i <= 2000; i++ {
		if l := fmt.Sprintf("line %d", i); !seen[l] {
			t.Fatalf("log has %d lines and lacks %q", len(lines), l)
		}
	}
}
